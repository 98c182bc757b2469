/// An ordered list of response header fields, written as a dictionary
/// literal or, for repeated names, an array literal of pairs:
///
///     ["Content-Type": "text/plain", "Cache-Control": "no-store"]
///     [("Set-Cookie", "a=1"), ("Set-Cookie", "b=2")]
///
/// The convenience API converts it to C strings on the stack per call; for a
/// response that never changes, prepare a `StaticHeaders` once instead.
public struct Headers: RandomAccessCollection, ExpressibleByDictionaryLiteral,
    ExpressibleByArrayLiteral, Sendable
{
    public typealias Element = (name: String, value: String)

    public var fields: [Element]

    public init() { fields = [] }
    public init(_ fields: [(String, String)]) { self.fields = fields.map { (name: $0.0, value: $0.1) } }
    public init(dictionaryLiteral elements: (String, String)...) { self.init(elements) }
    public init(arrayLiteral elements: (String, String)...) { self.init(elements) }

    public var startIndex: Int { fields.startIndex }
    public var endIndex: Int { fields.endIndex }
    public subscript(position: Int) -> Element { fields[position] }

    /// Appends a field (a repeated name is kept: Set-Cookie).
    public mutating func add(_ name: String, _ value: String) {
        fields.append((name: name, value: value))
    }

    /// The value of the first field named `name`, compared ASCII
    /// case-insensitively.
    public subscript(name: String) -> String? {
        fields.first { Headers.sameName($0.name, name) }?.value
    }

    /// Whether two field names are equal ignoring ASCII case.
    public static func sameName(_ a: String, _ b: String) -> Bool {
        a.utf8.count == b.utf8.count
            && zip(a.utf8, b.utf8).allSatisfy { asciiLower($0) == asciiLower($1) }
    }

    @inline(__always)
    static func asciiLower(_ byte: UInt8) -> UInt8 {
        byte >= 0x41 && byte <= 0x5A ? byte | 0x20 : byte
    }
}
