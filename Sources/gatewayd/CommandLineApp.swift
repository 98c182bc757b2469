import ServerCore
import WorkerPool

/// The APP argument: `module:callable` (Gunicorn's form, also
/// `module:factory()` and dotted names) runs through the bundled WSGI
/// loader; a path to a shared object runs a native app.
struct CommandLineApp {
    let spec: String

    init(_ spec: String) { self.spec = spec }

    var isNative: Bool { spec.hasSuffix(".so") || spec.contains("/") }

    func apply(to c: inout Config) {
        if isNative {
            c.app = spec
            return
        }
        c.app = Self.wsgiLoader ?? "wsgi.so"
        c.setAppArg("app", spec)
    }

    /// Where the WSGI loader is, next to the binary: build/bin/gatewayd and
    /// build/apps/wsgi.so (a source tree), /usr/sbin/gatewayd and
    /// /usr/lib/gatewayd/apps/wsgi.so (the .deb), a wheel's bin/ and
    /// lib/gatewayd/wsgi.so. GATEWAYD_WSGI_LOADER overrides it.
    static var wsgiLoader: String? {
        if let path = Sys.environment("GATEWAYD_WSGI_LOADER"), !path.isEmpty { return path }
        let bin = BinaryLocation.directory
        let candidates = [bin + "/../apps/wsgi.so", bin + "/../lib/gatewayd/wsgi.so",
                          bin + "/../lib/gatewayd/apps/wsgi.so", "/usr/lib/gatewayd/apps/wsgi.so"]
        return candidates.first { Sys.isReadable($0) }.map(BinaryLocation.normalized)
    }
}

/// Where this binary is, for finding what ships beside it.
enum BinaryLocation {
    static var directory: String {
        let exe = BinaryUpgrade.executablePath()
        guard let slash = exe.lastIndex(of: "/") else { return "." }
        return String(exe[..<slash])
    }

    /// "/a/b/../c" → "/a/c", for a path the log shows.
    static func normalized(_ path: String) -> String {
        var parts: [Substring] = []
        for p in path.split(separator: "/") {
            if p == "." { continue }
            if p == ".." { if !parts.isEmpty { parts.removeLast() }; continue }
            parts.append(p)
        }
        return "/" + parts.joined(separator: "/")
    }
}
