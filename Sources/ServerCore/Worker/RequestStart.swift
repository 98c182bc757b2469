/// The time a proxy received a request, from its X-Request-Start field, in
/// seconds since the epoch. The forms in use: `t=1700000000.123` (nginx
/// `t=${msec}`), `t=1700000000123456` (Apache `%t`, microseconds), and bare
/// numbers in seconds (with a fraction), milliseconds (Heroku) or
/// microseconds. The unit is told by magnitude, as New Relic's agents do:
/// a time after 2000-01-01 in the largest unit that gives one. Pure.
public enum RequestStart {
    public static func seconds(_ p: UnsafePointer<UInt8>, _ n: Int) -> Double? {
        var i = 0
        while i < n && (p[i] == 0x20 || p[i] == 0x09) { i += 1 }
        if i + 1 < n && p[i] == 0x74 && p[i + 1] == 0x3D { i += 2 }  // "t="
        // Integers while scanning (a Double per digit costs several times more).
        var whole: UInt64 = 0, fraction: UInt64 = 0, fractionDigits = 0, digits = 0, dot = false
        while i < n {
            let d = p[i] &- 0x30
            if d <= 9 {
                digits += 1
                if digits > 19 { return nil }
                if !dot {
                    whole = whole &* 10 &+ UInt64(d)  // 19 digits at most: no overflow
                } else if fractionDigits < 9 {
                    fraction = fraction &* 10 &+ UInt64(d)
                    fractionDigits += 1
                }
            } else if p[i] == 0x2E && !dot {
                dot = true
            } else {
                break
            }
            i += 1
        }
        // Anything after the number must be a separator (New Relic adds fields: "t=... D=...").
        guard digits > 0, i == n || p[i] == 0x20 || p[i] == 0x2C || p[i] == 0x3B || p[i] == 0x09 else { return nil }
        // The largest unit that puts the time after 2000-01-01.
        if whole >= 100_000_000_000_000_000 { return Double(whole) / 1e9 }
        if whole >= 946_684_800_000_000 { return Double(whole) / 1e6 }
        if whole >= 946_684_800_000 { return Double(whole) / 1e3 }
        guard whole >= 946_684_800 else { return nil }
        var scale = 1.0
        for _ in 0..<fractionDigits { scale *= 10 }
        return Double(whole) + Double(fraction) / scale
    }

    public static func seconds(_ s: String) -> Double? {
        var s = s
        return s.withUTF8 { seconds($0.baseAddress!, $0.count) }
    }
}
