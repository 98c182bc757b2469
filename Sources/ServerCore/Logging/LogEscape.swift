/// Escapes bytes that come from clients and apps before they reach a log,
/// as nginx's `escape=default` does: `"`, `\`, bytes below 0x20 and from
/// 0x7F up become `\xHH` (uppercase hex). A log line then always ends where
/// the server ended it, and a quoted access-log field where the format
/// closed it: no input can start a line or forge a field. `\` is escaped
/// too, so an escape in the log always means a byte in the input.
public struct LogEscape: Sendable {
    /// Whether `"` is escaped. The access log quotes its fields with it; the
    /// error log keeps it, because its own messages quote with `"` and its
    /// lines have no quoted fields to break.
    let quote: Bool

    /// For access-log fields (nginx's escape=default exactly).
    public static let access = LogEscape(quote: true)
    /// For the text and metadata of error-log lines.
    public static let errorLog = LogEscape(quote: false)

    @inline(__always)
    public func needsEscape(_ b: UInt8) -> Bool {
        b < 0x20 || b >= 0x7F || b == 0x5C || (quote && b == 0x22)
    }

    /// Appends `bytes` to `out`, escaped.
    @inline(__always)
    public func append(_ bytes: UnsafeBufferPointer<UInt8>, to out: inout [UInt8]) {
        // Most fields need nothing: one scan, then one copy.
        guard bytes.contains(where: needsEscape) else { out.append(contentsOf: bytes); return }
        for b in bytes {
            if needsEscape(b) {
                out.append(0x5C); out.append(0x78)
                out.append(Self.hex(b >> 4)); out.append(Self.hex(b & 0xF))
            } else {
                out.append(b)
            }
        }
    }

    /// `s` escaped; `s` itself (no copy) when it has nothing to escape.
    public func escaped(_ s: String) -> String {
        guard s.utf8.contains(where: needsEscape) else { return s }
        var out: [UInt8] = []
        out.reserveCapacity(s.utf8.count + 16)
        var s = s
        s.withUTF8 { append($0, to: &out) }
        return String(decoding: out, as: UTF8.self)
    }

    @inline(__always)
    static func hex(_ nibble: UInt8) -> UInt8 { nibble < 10 ? 0x30 + nibble : 0x37 + nibble }
}
