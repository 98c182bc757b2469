/// The variables a proxy sent (uwsgi, SCGI): offsets into the connection's
/// buffer, never copies, as RequestHead's fields are.
public struct ProtocolVars {
    public struct Var: Equatable {
        public var name: Int
        public var nameLength: Int
        public var value: Int
        public var valueLength: Int
    }

    public var vars: UnsafeMutablePointer<Var>
    public var count = 0
    public let capacity: Int

    public init(capacity: Int) {
        self.capacity = capacity
        vars = .allocate(capacity: max(capacity, 1))
    }

    public mutating func reset() { count = 0 }

    /// The first variable named `name` (exact, case-sensitive).
    public func find(_ buf: UnsafePointer<UInt8>, _ name: StaticString) -> Var? {
        let n = name.utf8CodeUnitCount
        let p = name.utf8Start
        var i = 0
        while i < count {
            let v = vars[i]
            if v.nameLength == n && memcmpBytes(buf + v.name, p, n) { return v }
            i += 1
        }
        return nil
    }

    @inline(__always)
    func memcmpBytes(_ a: UnsafePointer<UInt8>, _ b: UnsafePointer<UInt8>, _ n: Int) -> Bool {
        var i = 0
        while i < n {
            if a[i] != b[i] { return false }
            i += 1
        }
        return true
    }
}

/// Bounds on what a proxy may send: the number of variables, the size of
/// each name and value, and the size of the whole block.
public struct ProtocolLimits: Sendable {
    public var vars: Int
    public var nameSize: Int
    public var valueSize: Int
    public var total: Int
    /// What FastCGI's GET_VALUES answers.
    public var fastcgi: FastCGIRecord.Capacity

    public init(vars: Int = 164, nameSize: Int = 256, valueSize: Int = 8190, total: Int = 65535,
                fastcgi: FastCGIRecord.Capacity = .init()) {
        self.vars = vars
        self.nameSize = nameSize
        self.valueSize = valueSize
        self.total = total
        self.fastcgi = fastcgi
    }

    /// From the HTTP limits: as many HTTP_* variables as header fields,
    /// plus the CGI ones; a value as large as a field or a request line.
    public init(_ h: HTTPLimits, fastcgi: FastCGIRecord.Capacity = .init()) {
        self.init(vars: h.fields + 64, nameSize: 256, valueSize: max(h.fieldSize, h.requestLine),
                  total: min(h.maxHead, 1 << 20), fastcgi: fastcgi)
    }
}

/// What a decoder makes of the bytes so far.
public enum ProtocolDecode: Equatable {
    case needMore
    case failed(HTTPError)
    /// The variables are in; the body starts at `end`.
    case complete(end: Int)
}

package enum VarCheck {
    /// Names are printable ASCII without '=' ; values have no NUL (C strings).
    @inline(__always)
    package static func name(_ buf: UnsafePointer<UInt8>, _ s: Int, _ n: Int) -> Bool {
        if n == 0 { return false }
        var i = 0
        while i < n {
            let b = buf[s + i]
            if b <= 0x20 || b >= 0x7F || b == 0x3D { return false }
            i += 1
        }
        return true
    }

    @inline(__always)
    package static func value(_ buf: UnsafePointer<UInt8>, _ s: Int, _ n: Int) -> Bool {
        var i = 0
        while i < n {
            if buf[s + i] == 0 { return false }
            i += 1
        }
        return true
    }

    /// CONTENT_LENGTH's value: empty (none) or decimal digits; nil when invalid.
    package static func contentLength(_ buf: UnsafePointer<UInt8>, _ v: ProtocolVars.Var?) -> Int? {
        guard let v, v.valueLength > 0 else { return 0 }
        guard v.valueLength <= 18 else { return nil }
        var n = 0
        for i in 0..<v.valueLength {
            let b = buf[v.value + i]
            guard b >= 0x30 && b <= 0x39 else { return nil }
            n = n * 10 + Int(b - 0x30)
        }
        return n
    }
}
