/// A parsed request head: offsets into the connection's buffer, never copies.
public struct RequestHead {
    public struct Field {
        public var name: Int
        public var nameLength: Int
        public var value: Int
        public var valueLength: Int
    }

    public enum Version: UInt8 { case http10, http11 }

    public var method = 0, methodLength = 0
    public var target = 0, targetLength = 0
    /// The path part of the target (absolute-form: after the authority).
    public var path = 0, pathLength = 0
    /// After '?', or -1.
    public var query = -1, queryLength = 0
    /// The authority of an absolute-form target, or -1.
    public var authority = -1, authorityLength = 0
    public var version: Version = .http11
    public var fields: UnsafeMutablePointer<Field>
    public var fieldCount = 0
    public let fieldCapacity: Int
    /// -1 when absent.
    public var contentLength = -1
    public var chunked = false
    public var keepAlive = true
    public var expectContinue = false
    /// Index in `fields` of the Host field, or -1.
    public var host = -1
    public var isHead = false
    /// Offset just past the blank line that ends the head.
    public var end = 0

    public init(fieldCapacity: Int) {
        self.fieldCapacity = fieldCapacity
        fields = .allocate(capacity: max(fieldCapacity, 1))
    }

    public mutating func reset() {
        fieldCount = 0; contentLength = -1; chunked = false; keepAlive = true
        expectContinue = false; host = -1; isHead = false
        query = -1; queryLength = 0; authority = -1; authorityLength = 0
    }

    public var hasBody: Bool { chunked || contentLength > 0 }
}
