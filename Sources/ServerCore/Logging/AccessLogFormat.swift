/// The access log line format: nginx-style `$variables` in a template,
/// compiled once into segments so a request renders without parsing.
public struct AccessLogFormat {
    public static let combined =
        "$remote_addr - - $time_local \"$request\" $status $body_bytes_sent \"$http_referer\" \"$http_user_agent\""
    public static let common = "$remote_addr - - $time_local \"$request\" $status $body_bytes_sent"

    public enum Variable: String, CaseIterable {
        case remote_addr, time_local, request, status, body_bytes_sent, http_referer, http_user_agent
        case request_time_us, request_time, pid, generation, method, path, query, http_host, worker
    }

    public enum Segment: Equatable {
        case literal([UInt8])
        case variable(Variable)
    }

    public let segments: [Segment]

    public init(_ template: String) {
        var segments: [Segment] = []
        var literal: [UInt8] = []
        let bytes = Array(template.utf8)
        var i = 0
        while i < bytes.count {
            if bytes[i] == UInt8(ascii: "$") {
                var j = i + 1
                while j < bytes.count, Self.isNameByte(bytes[j]) { j += 1 }
                let name = String(decoding: bytes[(i + 1)..<j], as: UTF8.self)
                if let v = Variable(rawValue: name) {
                    if !literal.isEmpty { segments.append(.literal(literal)); literal = [] }
                    segments.append(.variable(v))
                    i = j
                    continue
                }
            }
            literal.append(bytes[i])
            i += 1
        }
        if !literal.isEmpty { segments.append(.literal(literal)) }
        self.segments = segments
    }

    static func isNameByte(_ b: UInt8) -> Bool {
        (b >= 0x61 && b <= 0x7A) || b == 0x5F || (b >= 0x30 && b <= 0x39)
    }

    /// The first `$name` in `template` that is not a known variable.
    public static func unknownVariable(in template: String) -> String? {
        let bytes = Array(template.utf8)
        var i = 0
        while i < bytes.count {
            if bytes[i] == UInt8(ascii: "$") {
                var j = i + 1
                while j < bytes.count, isNameByte(bytes[j]) { j += 1 }
                let name = String(decoding: bytes[(i + 1)..<j], as: UTF8.self)
                if Variable(rawValue: name) == nil { return name }
                i = j
                continue
            }
            i += 1
        }
        return nil
    }
}
