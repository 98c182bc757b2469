#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A JSON text checked against RFC 8259 and indexed in one pass: a flat
/// array of nodes (a value; an object's keys and values alternate after
/// it), each with the byte range of its text and where its subtree ends,
/// so a decoder walks it without building strings or dictionaries first.
/// Parsing fails (nil) on anything not plainly valid, including what
/// Foundation might accept (a byte-order mark, nesting past 512): the
/// caller then leaves the text to Foundation's JSONDecoder.
struct JSONTape {
    enum Kind: UInt8 { case null, bool, number, string, array, object }

    struct Node {
        var kind: Kind
        /// A bool's value; a string with escapes; a string with non-ASCII bytes.
        var flags: UInt8 = 0
        /// The node after this one's subtree.
        var next: Int32 = 0
        /// The text: a string's contents without the quotes, a number's digits.
        var start: Int32
        var end: Int32
        /// Elements of an array, members of an object.
        var count: Int32 = 0
    }

    static let isTrue: UInt8 = 1
    static let escaped: UInt8 = 2
    static let nonASCII: UInt8 = 4

    private(set) var nodes: [Node] = []
    let text: UnsafeBufferPointer<UInt8>

    init?(_ text: UnsafeBufferPointer<UInt8>) {
        guard text.count < Int32.max else { return nil }
        self.text = text
        nodes.reserveCapacity(16)
        var parser = Parser(text: text)
        parser.skipSpace()
        guard parser.value(into: &nodes, depth: 0) else { return nil }
        parser.skipSpace()
        guard parser.position == text.count else { return nil }
    }

    subscript(index: Int) -> Node { nodes[index] }

    func bytes(of node: Node) -> UnsafeBufferPointer<UInt8> {
        UnsafeBufferPointer(rebasing: text[Int(node.start)..<Int(node.end)])
    }

    struct Parser {
        let text: UnsafeBufferPointer<UInt8>
        var position = 0

        @inline(__always)
        mutating func skipSpace() {
            while position < text.count {
                switch text[position] {
                case 0x20, 0x09, 0x0A, 0x0D: position &+= 1
                default: return
                }
            }
        }

        mutating func value(into nodes: inout [Node], depth: Int) -> Bool {
            guard position < text.count, depth < 512 else { return false }
            let index = nodes.count
            switch text[position] {
            case UInt8(ascii: "{"): return object(into: &nodes, depth: depth)
            case UInt8(ascii: "["): return array(into: &nodes, depth: depth)
            case UInt8(ascii: "\""):
                guard let node = string() else { return false }
                nodes.append(node)
            case UInt8(ascii: "t"):
                guard literal("true") else { return false }
                nodes.append(Node(kind: .bool, flags: JSONTape.isTrue, start: Int32(position - 4), end: Int32(position)))
            case UInt8(ascii: "f"):
                guard literal("false") else { return false }
                nodes.append(Node(kind: .bool, start: Int32(position - 5), end: Int32(position)))
            case UInt8(ascii: "n"):
                guard literal("null") else { return false }
                nodes.append(Node(kind: .null, start: Int32(position - 4), end: Int32(position)))
            default:
                let start = position
                guard number() else { return false }
                nodes.append(Node(kind: .number, start: Int32(start), end: Int32(position)))
            }
            nodes[index].next = Int32(nodes.count)
            return true
        }

        private mutating func literal(_ word: StaticString) -> Bool {
            let count = word.utf8CodeUnitCount
            guard text.count - position >= count,
                  memcmp(text.baseAddress! + position, word.utf8Start, count) == 0 else { return false }
            position += count
            return true
        }

        private mutating func digits() -> Bool {
            let start = position
            while position < text.count && text[position] &- UInt8(ascii: "0") < 10 { position &+= 1 }
            return position > start
        }

        /// -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
        private mutating func number() -> Bool {
            if text[position] == UInt8(ascii: "-") { position &+= 1 }
            guard position < text.count else { return false }
            if text[position] == UInt8(ascii: "0") {
                position &+= 1
            } else if !digits() {
                return false
            }
            if position < text.count && text[position] == UInt8(ascii: ".") {
                position &+= 1
                guard digits() else { return false }
            }
            if position < text.count && (text[position] | 0x20) == UInt8(ascii: "e") {
                position &+= 1
                if position < text.count && (text[position] == UInt8(ascii: "+") || text[position] == UInt8(ascii: "-")) {
                    position &+= 1
                }
                guard digits() else { return false }
            }
            return true
        }

        private mutating func string() -> Node? {
            position &+= 1
            let start = position
            var flags: UInt8 = 0
            while position < text.count {
                let byte = text[position]
                if byte == UInt8(ascii: "\"") {
                    let node = Node(kind: .string, flags: flags, start: Int32(start), end: Int32(position))
                    position &+= 1
                    if flags & JSONTape.nonASCII != 0 && !JSONTape.isValidUTF8(UnsafeBufferPointer(rebasing: text[start..<node.end.int])) {
                        return nil
                    }
                    return node
                }
                if byte < 0x20 { return nil }
                if byte >= 0x80 { flags |= JSONTape.nonASCII }
                if byte == UInt8(ascii: "\\") {
                    flags |= JSONTape.escaped
                    position &+= 1
                    guard position < text.count else { return nil }
                    switch text[position] {
                    case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"), UInt8(ascii: "b"),
                         UInt8(ascii: "f"), UInt8(ascii: "n"), UInt8(ascii: "r"), UInt8(ascii: "t"):
                        break
                    case UInt8(ascii: "u"):
                        guard text.count - position > 4 else { return nil }
                        for offset in 1...4 where JSONTape.hexValue(text[position + offset]) == nil { return nil }
                        position += 4
                    default:
                        return nil
                    }
                }
                position &+= 1
            }
            return nil
        }

        private mutating func array(into nodes: inout [Node], depth: Int) -> Bool {
            let index = nodes.count
            nodes.append(Node(kind: .array, start: Int32(position), end: 0))
            position &+= 1
            skipSpace()
            var count: Int32 = 0
            if position < text.count && text[position] == UInt8(ascii: "]") {
                position &+= 1
            } else {
                while true {
                    guard value(into: &nodes, depth: depth + 1) else { return false }
                    count += 1
                    skipSpace()
                    guard position < text.count else { return false }
                    if text[position] == UInt8(ascii: ",") { position &+= 1; skipSpace(); continue }
                    guard text[position] == UInt8(ascii: "]") else { return false }
                    position &+= 1
                    break
                }
            }
            nodes[index].count = count
            nodes[index].end = Int32(position)
            nodes[index].next = Int32(nodes.count)
            return true
        }

        private mutating func object(into nodes: inout [Node], depth: Int) -> Bool {
            let index = nodes.count
            nodes.append(Node(kind: .object, start: Int32(position), end: 0))
            position &+= 1
            skipSpace()
            var count: Int32 = 0
            if position < text.count && text[position] == UInt8(ascii: "}") {
                position &+= 1
            } else {
                while true {
                    guard position < text.count, text[position] == UInt8(ascii: "\""), var key = string() else { return false }
                    key.next = Int32(nodes.count + 1)
                    nodes.append(key)
                    skipSpace()
                    guard position < text.count, text[position] == UInt8(ascii: ":") else { return false }
                    position &+= 1
                    skipSpace()
                    guard value(into: &nodes, depth: depth + 1) else { return false }
                    count += 1
                    skipSpace()
                    guard position < text.count else { return false }
                    if text[position] == UInt8(ascii: ",") { position &+= 1; skipSpace(); continue }
                    guard text[position] == UInt8(ascii: "}") else { return false }
                    position &+= 1
                    break
                }
            }
            nodes[index].count = count
            nodes[index].end = Int32(position)
            nodes[index].next = Int32(nodes.count)
            return true
        }
    }

    static func hexValue(_ byte: UInt8) -> UInt32? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return UInt32(byte - UInt8(ascii: "0"))
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return UInt32(byte - UInt8(ascii: "a") + 10)
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return UInt32(byte - UInt8(ascii: "A") + 10)
        default: return nil
        }
    }

    static func isValidUTF8(_ bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        var iterator = bytes.makeIterator()
        var decoder = UTF8()
        while true {
            switch decoder.decode(&iterator) {
            case .scalarValue: continue
            case .emptyInput: return true
            case .error: return false
            }
        }
    }

    // MARK: Reading values

    /// A string node's value; nil for an escape Foundation would refuse
    /// (a lone surrogate).
    func string(_ node: Node) -> String? {
        let raw = bytes(of: node)
        if node.flags & JSONTape.escaped == 0 { return String(decoding: raw, as: UTF8.self) }
        var scalars = String.UnicodeScalarView()
        var utf8 = [UInt8]()
        utf8.reserveCapacity(raw.count)
        var index = 0
        while index < raw.count {
            let byte = raw[index]
            guard byte == UInt8(ascii: "\\") else { utf8.append(byte); index += 1; continue }
            index += 1
            switch raw[index] {
            case UInt8(ascii: "b"): utf8.append(0x08)
            case UInt8(ascii: "f"): utf8.append(0x0C)
            case UInt8(ascii: "n"): utf8.append(0x0A)
            case UInt8(ascii: "r"): utf8.append(0x0D)
            case UInt8(ascii: "t"): utf8.append(0x09)
            case UInt8(ascii: "u"):
                var code = JSONTape.hex4(raw, index + 1)
                index += 4
                if code >= 0xD800 && code < 0xDC00 {
                    // a high surrogate: its low one must follow
                    guard raw.count - index > 6, raw[index + 1] == UInt8(ascii: "\\"), raw[index + 2] == UInt8(ascii: "u") else { return nil }
                    let low = JSONTape.hex4(raw, index + 3)
                    guard low >= 0xDC00 && low < 0xE000 else { return nil }
                    code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)
                    index += 6
                } else if code >= 0xDC00 && code < 0xE000 {
                    return nil
                }
                guard let scalar = Unicode.Scalar(code) else { return nil }
                scalars.removeAll(keepingCapacity: true)
                scalars.append(scalar)
                utf8.append(contentsOf: String(scalars).utf8)
            default: utf8.append(raw[index])  // " \ /
            }
            index += 1
        }
        return String(decoding: utf8, as: UTF8.self)
    }

    private static func hex4(_ raw: UnsafeBufferPointer<UInt8>, _ at: Int) -> UInt32 {
        (0..<4).reduce(0) { $0 << 4 | (hexValue(raw[at + $1]) ?? 0) }
    }

    /// An integer node of plain digits (no fraction, no exponent) that fits
    /// in `T`; nil otherwise (Foundation then decides).
    func integer<T: FixedWidthInteger>(_ node: Node, as type: T.Type) -> T? {
        guard node.kind == .number else { return nil }
        let raw = bytes(of: node)
        var index = 0
        let negative = raw[0] == UInt8(ascii: "-")
        if negative { guard T.isSigned else { return nil }; index = 1 }
        var value: T = 0
        while index < raw.count {
            let digit = raw[index] &- UInt8(ascii: "0")
            guard digit < 10 else { return nil }
            let (times, overflow1) = value.multipliedReportingOverflow(by: 10)
            let (next, overflow2) = negative ? times.subtractingReportingOverflow(T(digit)) : times.addingReportingOverflow(T(digit))
            guard !overflow1 && !overflow2 else { return nil }
            value = next
            index += 1
        }
        return value
    }

    /// A number node as a finite Double, nil otherwise.
    func double(_ node: Node) -> Double? {
        guard node.kind == .number else { return nil }
        let value = Double(String(decoding: bytes(of: node), as: UTF8.self))
        guard let value, value.isFinite else { return nil }
        return value
    }

    /// Whether key node `key` is `name`: bytes compared when neither has
    /// escapes or non-ASCII, Strings (canonical equivalence, as Foundation's
    /// dictionary lookup) otherwise.
    func key(_ key: Node, is name: String) -> Bool {
        var name = name
        let plain = name.withUTF8 { utf8 -> Bool? in
            guard key.flags == 0, utf8.allSatisfy({ $0 < 0x80 }) else { return nil }
            return utf8.count == Int(key.end - key.start)
                && (utf8.count == 0 || memcmp(utf8.baseAddress!, text.baseAddress! + Int(key.start), utf8.count) == 0)
        }
        if let plain { return plain }
        return string(key) == name
    }
}

extension Int32 {
    var int: Int { Int(self) }
}
