/// A little JSON writer for /status: strings escaped as RFC 8259 asks.
enum JSON {
    indirect case object([(String, JSON)])
    case array([JSON])
    case string(String)
    case int(Int64)
    case double(Double)
    case bool(Bool)
    case null

    var text: String {
        switch self {
        case let .object(fields): return "{" + fields.map { "\(JSON.quote($0.0)):\($0.1.text)" }.joined(separator: ",") + "}"
        case let .array(items): return "[" + items.map { $0.text }.joined(separator: ",") + "]"
        case let .string(s): return JSON.quote(s)
        case let .int(n): return String(n)
        case let .double(d): return d.isFinite ? "\(d)" : "null"
        case let .bool(b): return b ? "true" : "false"
        case .null: return "null"
        }
    }

    static func quote(_ s: String) -> String {
        var r = "\""
        for c in s.unicodeScalars {
            switch c {
            case "\"": r += "\\\""
            case "\\": r += "\\\\"
            case "\n": r += "\\n"
            case "\r": r += "\\r"
            case "\t": r += "\\t"
            default:
                if c.value < 0x20 {
                    let hex = String(c.value, radix: 16)
                    r += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                } else {
                    r.unicodeScalars.append(c)
                }
            }
        }
        return r + "\""
    }
}
