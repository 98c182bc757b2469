#if canImport(Glibc)
import Glibc
#endif

/// script_name: the prefix an app is mounted under (Gunicorn's SCRIPT_NAME).
/// Requests below it reach the app with SCRIPT_NAME set and the prefix
/// taken off PATH_INFO; others are answered 404 by the server.
struct Mount {
    /// NUL-terminated, made once per worker: an environ value, no allocation.
    let scriptName: UnsafePointer<CChar>
    let prefix: [UInt8]
    var length: Int { prefix.count }

    init(_ scriptName: String) {
        prefix = Array(scriptName.utf8)
        self.scriptName = CKey.make(scriptName)
    }

    /// Whether the raw request path is the prefix or below it ("/app",
    /// "/app/x"; not "/apple").
    @inline(__always)
    func contains(_ path: UnsafePointer<UInt8>, _ n: Int) -> Bool {
        let m = prefix.count
        if m == 0 { return true }
        guard n >= m, prefix.withUnsafeBufferPointer({ memcmp($0.baseAddress!, path, m) == 0 }) else { return false }
        return n == m || path[m] == 0x2F
    }
}
