/// The time a proxy received a request, from its X-Request-Start field, in
/// seconds since the epoch. The forms in use: `t=1700000000.123` (nginx
/// `t=${msec}`), `t=1700000000123456` (Apache `%t`, microseconds), and bare
/// numbers in seconds (with a fraction), milliseconds (Heroku) or
/// microseconds. The unit is told by magnitude, as New Relic's agents do:
/// a time after 2000-01-01 in the largest unit that gives one. Pure.
public enum RequestStart {
    /// 2000-01-01: anything earlier is not a request time in that unit.
    static let earliest = 946_684_800.0

    public static func seconds(_ p: UnsafePointer<UInt8>, _ n: Int) -> Double? {
        var i = 0
        while i < n && (p[i] == 0x20 || p[i] == 0x09) { i += 1 }
        if i + 1 < n && p[i] == 0x74 && p[i + 1] == 0x3D { i += 2 }  // "t="
        var whole = 0.0, fraction = 0.0, scale = 1.0, digits = 0, dot = false
        while i < n {
            let c = p[i]
            if c >= 0x30 && c <= 0x39 {
                digits += 1
                if digits > 19 { return nil }
                if dot { scale /= 10; fraction += Double(c - 0x30) * scale } else { whole = whole * 10 + Double(c - 0x30) }
            } else if c == 0x2E && !dot {
                dot = true
            } else {
                break
            }
            i += 1
        }
        // Anything after the number must be a separator (New Relic adds fields: "t=... D=...").
        guard digits > 0, i == n || p[i] == 0x20 || p[i] == 0x2C || p[i] == 0x3B || p[i] == 0x09 else { return nil }
        let value = whole + fraction
        for divisor in [1e9, 1e6, 1e3, 1.0] where value / divisor > earliest {
            // nanoseconds only when the value is too large for microseconds to make sense
            if divisor == 1e9 && value / 1e6 < 1e11 { continue }
            return value / divisor
        }
        return nil
    }

    public static func seconds(_ s: String) -> Double? {
        var s = s
        return s.withUTF8 { seconds($0.baseAddress!, $0.count) }
    }
}
