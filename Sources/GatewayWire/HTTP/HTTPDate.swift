#if canImport(Glibc)
import Glibc
#endif

/// The IMF-fixdate of RFC 9110 §5.6.7 ("Sun, 06 Nov 1994 08:49:37 GMT"),
/// 29 bytes, for the Date field. Formatted once a second by the encoder.
public enum HTTPDate {
    public static let length = 29

    /// The current second, as the encoder's clock reads it.
    public static func now() -> Int {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Int(ts.tv_sec)
    }

    /// Writes the date of `seconds` since the epoch into `out` (29 bytes, no NUL).
    public static func format(_ seconds: Int, into out: UnsafeMutablePointer<UInt8>) {
        var t = time_t(seconds)
        var tm = Glibc.tm()
        gmtime_r(&t, &tm)
        var o = 0
        func put(_ s: StaticString) {
            s.withUTF8Buffer { for b in $0 { out[o] = b; o += 1 } }
        }
        func two(_ v: Int32) {
            out[o] = 0x30 + UInt8(v / 10); out[o + 1] = 0x30 + UInt8(v % 10); o += 2
        }
        put(days[Int(tm.tm_wday)]); put(", ")
        two(tm.tm_mday); put(" ")
        put(months[Int(tm.tm_mon)]); put(" ")
        let year = tm.tm_year + 1900
        two(year / 100); two(year % 100); put(" ")
        two(tm.tm_hour); put(":"); two(tm.tm_min); put(":"); two(tm.tm_sec); put(" GMT")
    }

    static let days: [StaticString] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]
    static let months: [StaticString] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
}
