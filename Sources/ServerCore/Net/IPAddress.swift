#if canImport(Glibc)
import Glibc
#endif

/// An IPv4 or IPv6 address as 16 bytes (IPv4 as ::ffff:a.b.c.d), so that
/// "127.0.0.1", "::ffff:127.0.0.1" and a peer's sockaddr compare equal, and
/// "::1" equals "0:0:0:0:0:0:0:1". Text is parsed strictly by inet_pton(3):
/// no port, no brackets, no zone, no leading zeros in IPv4.
public struct IPAddress: Equatable, Hashable, Sendable {
    let high: UInt64
    let low: UInt64

    /// The longest address text: "ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255".
    static let maxTextLength = 45

    init(bytes p: UnsafeRawPointer) {
        high = p.loadUnaligned(as: UInt64.self)
        low = p.loadUnaligned(fromByteOffset: 8, as: UInt64.self)
    }

    init(ipv4 p: UnsafeRawPointer) {
        var mapped: (UInt64, UInt64) = (0, 0)
        withUnsafeMutableBytes(of: &mapped) { m in
            m[10] = 0xFF; m[11] = 0xFF
            m.baseAddress!.advanced(by: 12).copyMemory(from: p, byteCount: 4)
        }
        self.init(mapped)
    }

    init(_ words: (UInt64, UInt64)) {
        high = words.0
        low = words.1
    }

    public init?(_ text: String) {
        var text = text
        guard let a = text.withUTF8({ Self.parse($0.baseAddress, $0.count) }) else { return nil }
        self = a
    }

    /// Parses `p[0..<n]`, which need not be NUL-terminated.
    public init?(_ p: UnsafePointer<UInt8>, _ n: Int) {
        guard let a = Self.parse(p, n) else { return nil }
        self = a
    }

    /// The address of an AF_INET or AF_INET6 socket address; nil for others.
    public init?(_ storage: UnsafePointer<sockaddr_storage>, length: socklen_t) {
        let raw = UnsafeRawPointer(storage)
        switch Int32(storage.pointee.ss_family) {
        case AF_INET where length >= MemoryLayout<sockaddr_in>.size:
            self.init(ipv4: raw + MemoryLayout<sockaddr_in>.offset(of: \sockaddr_in.sin_addr)!)
        case AF_INET6 where length >= MemoryLayout<sockaddr_in6>.size:
            self.init(bytes: raw + MemoryLayout<sockaddr_in6>.offset(of: \sockaddr_in6.sin6_addr)!)
        default:
            return nil
        }
    }

    static func parse(_ p: UnsafePointer<UInt8>?, _ n: Int) -> IPAddress? {
        guard let p, n > 0, n <= maxTextLength else { return nil }
        return withUnsafeTemporaryAllocation(of: CChar.self, capacity: maxTextLength + 1) { text in
            let c = text.baseAddress!
            UnsafeMutableRawPointer(c).copyMemory(from: p, byteCount: n)
            c[n] = 0
            var out: (UInt64, UInt64) = (0, 0)
            return withUnsafeMutableBytes(of: &out) { o -> IPAddress? in
                if inet_pton(AF_INET, c, o.baseAddress) == 1 { return IPAddress(ipv4: o.baseAddress!) }
                if inet_pton(AF_INET6, c, o.baseAddress) == 1 { return IPAddress(bytes: o.baseAddress!) }
                return nil
            }
        }
    }
}

/// A trusted proxy entry: an address ("10.0.0.2", a network of one) or a
/// CIDR network ("10.0.0.0/8", "fd00::/8"), as Python's
/// ipaddress.ip_network(strict=True) takes it, which Gunicorn uses:
/// host bits set ("10.0.0.1/8") are refused. IPv4 networks match IPv4
/// peers and their IPv4-mapped IPv6 form alike.
public struct IPNetwork: Equatable, Hashable, Sendable {
    let address: IPAddress
    /// Of the 128 bits of the mapped form (an IPv4 /8 is 104).
    let bits: Int

    init(address: IPAddress, bits: Int) {
        self.address = address
        self.bits = bits
    }

    public init?(_ text: String) {
        guard case .success(let n) = Self.parse(text) else { return nil }
        self = n
    }

    /// The network, or why `text` is none.
    public static func parse(_ text: String) -> Result<IPNetwork, ParseError> {
        guard let slash = text.firstIndex(of: "/") else {
            guard let a = IPAddress(text) else { return .failure(.notAnAddress) }
            return .success(IPNetwork(address: a, bits: 128))
        }
        let host = String(text[..<slash]), length = String(text[text.index(after: slash)...])
        guard let a = IPAddress(host) else { return .failure(.notAnAddress) }
        let v4 = a.isIPv4
        guard !length.isEmpty, length.utf8.allSatisfy({ (0x30...0x39).contains($0) }), length.utf8.count <= 3,
              let n = Int(length), n <= (v4 ? 32 : 128) else {
            return .failure(.badPrefix(max: v4 ? 32 : 128))
        }
        let bits = v4 ? 96 + n : n
        let network = IPNetwork(address: a.masked(bits), bits: bits)
        guard network.address == a else {
            return .failure(.hostBitsSet(network: network.address.text(ipv4: v4) + "/\(n)"))
        }
        return .success(network)
    }

    public enum ParseError: Error, Equatable {
        case notAnAddress
        case badPrefix(max: Int)
        case hostBitsSet(network: String)
    }

    public func contains(_ a: IPAddress) -> Bool { a.masked(bits) == address }
}

extension IPAddress {
    /// ::ffff:a.b.c.d, the form IPv4 addresses are kept in.
    var isIPv4: Bool {
        withUnsafeBytes(of: (high, low)) { b in
            b[0..<10].allSatisfy { $0 == 0 } && b[10] == 0xFF && b[11] == 0xFF
        }
    }

    /// The first `bits` bits (of 128) kept, the others zero.
    func masked(_ bits: Int) -> IPAddress {
        var words = (high, low)
        withUnsafeMutableBytes(of: &words) { b in
            for i in 0..<16 {
                let keep = max(0, min(8, bits - i * 8))
                b[i] &= keep == 8 ? 0xFF : UInt8(truncatingIfNeeded: 0xFF << (8 - keep))
            }
        }
        return IPAddress(words)
    }

    /// Text for a message: dotted for IPv4, else inet_ntop's IPv6 form.
    func text(ipv4: Bool) -> String {
        var words = (high, low)
        return withUnsafeBytes(of: &words) { b -> String in
            var out = [CChar](repeating: 0, count: 64)
            let src = ipv4 ? b.baseAddress! + 12 : b.baseAddress!
            guard inet_ntop(ipv4 ? AF_INET : AF_INET6, src, &out, 64) != nil else { return "?" }
            return String(cString: out)
        }
    }
}
