import ArgumentParser
import ServerCore
import WorkerPool

/// The command line: read the config (if any), apply flag overrides, run the
/// master. Flags have Gunicorn's spelling and meaning, so that a Gunicorn
/// command line runs unchanged with `gatewayd` in place of `gunicorn`.
@main
struct Gatewayd: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gatewayd",
        abstract: "A pre-fork application server for apps that speak the gateway interface, and Python WSGI apps.",
        discussion: """
            APP is a Python WSGI app as Gunicorn takes it (module:callable, module:factory(), dotted \
            names), run through the bundled WSGI loader, or the path of a native app (.so). Without -c, \
            an APP runs with the defaults and these flags; with -c, flags override the file.
            Signals: TERM/QUIT graceful stop, INT fast stop, HUP reload, TTIN/TTOU add/remove a worker, \
            USR1 reopen logs. See SIGNALS.md.
            """,
        version: GatewaydVersion.string)

    @Argument(help: "module:callable (WSGI) or the path of an app .so.")
    var appSpec: String?

    @Option(name: [.short, .customLong("config")], help: "The configuration file (TOML). Default: /etc/gatewayd.conf when neither APP nor --app is given.")
    var config: String?

    @Flag(name: .customLong("check-config"), help: "Validate the configuration and load the app in a throwaway process, then exit: 0 if both are fine, 1 if not.")
    var checkConfig = false

    @Option(name: [.short, .customLong("bind")], help: "Listen address (repeatable): HOST:PORT, [V6]:PORT, unix:/path, fd:NAME; a uwsgi:, fastcgi: or scgi: prefix for those protocols. Replaces bind.")
    var bind: [String] = []

    @Option(name: [.short, .customLong("workers")], help: "Number of worker processes.")
    var workers: Int?

    @Option(name: [.short, .customLong("timeout")], help: "Seconds a request may run before its worker is replaced and the client gets 504 (0: never).")
    var timeout: Int?

    @Option(name: .customLong("graceful-timeout"), help: "Seconds a stopping worker may finish its requests.")
    var gracefulTimeout: Int?

    @Option(name: .customLong("keep-alive"), help: "Seconds an idle keep-alive connection is kept (keepalive_timeout).")
    var keepAlive: Int?

    @Option(name: .customLong("max-requests"), help: "Recycle a worker after this many requests (0: never).")
    var maxRequests: Int?

    @Option(name: .customLong("max-requests-jitter"), help: "Up to this many more requests per worker, at random.")
    var maxRequestsJitter: Int?

    @Option(name: [.short, .customLong("user")], help: "Run the workers as this user (root: as root).")
    var user: String?

    @Option(name: [.short, .customLong("group")], help: "Run the workers with this group.")
    var group: String?

    @Option(name: [.short, .customLong("pid"), .customLong("pidfile")], help: "Write the master's pid to this file.")
    var pidfile: String?

    @Option(name: .customLong("chdir"), help: "WSGI: change to this directory before loading the app.")
    var chdir: String?

    @Option(name: .customLong("pythonpath"), help: "WSGI: comma-separated directories put in front of sys.path.")
    var pythonpath: String?

    @Option(name: [.short, .customLong("env")], help: "KEY=VALUE set in the workers' environment (repeatable).")
    var env: [String] = []

    @Flag(name: .customLong("reload"), help: "Development: reload when the app's files change.")
    var reload = false

    @Option(name: .customLong("access-logfile"), help: "The access log file ('-': stdout).")
    var accessLogfile: String?

    @Option(name: .customLong("error-logfile"), help: "The error log file ('-': stderr).")
    var errorLogfile: String?

    @Option(name: .customLong("log-level"), help: "debug, info, warning, error (critical counts as error).")
    var logLevel: String?

    @Flag(name: .customLong("capture-output"), help: "Send the app's stdout and stderr to the error log.")
    var captureOutput = false

    @Option(name: .customLong("forwarded-allow-ips"), help: "Comma-separated addresses of proxies whose X-Forwarded-* are believed ('*': all).")
    var forwardedAllowIPs: String?

    @Option(name: .customLong("app"), help: "Path of the app shared object (as the app key).")
    var app: String?

    func validate() throws {
        for b in bind where b.hasPrefix("fd://") {
            throw ValidationError("--bind \(b): an arbitrary inherited descriptor (Gunicorn's fd://N) is not supported; pass sockets by systemd socket activation and bind fd:NAME or fd:INDEX")
        }
        for entry in env where !entry.contains("=") {
            throw ValidationError("--env wants KEY=VALUE, found \"\(entry)\"")
        }
    }

    /// The flags over a config (the file's, or the defaults).
    func applyOverrides(_ c: inout Config) {
        if let spec = appSpec { CommandLineApp(spec).apply(to: &c) }
        if let app { c.app = app }
        // Each flag records the key it sets: ConfigLoader checks the value by
        // the key's rule and names the flag in the error.
        if !bind.isEmpty { c.bind = bind.map(Self.gunicornBind); c.flags["bind"] = "--bind" }
        if let workers { c.workers = workers; c.flags["workers"] = "--workers" }
        if let timeout { c.timeout = timeout; c.flags["timeout"] = "--timeout" }
        if let gracefulTimeout { c.gracefulTimeout = gracefulTimeout; c.flags["graceful_timeout"] = "--graceful-timeout" }
        if let keepAlive { c.keepaliveTimeout = keepAlive; c.flags["keepalive_timeout"] = "--keep-alive" }
        if let maxRequests { c.maxRequests = maxRequests; c.flags["max_requests"] = "--max-requests" }
        if let maxRequestsJitter { c.maxRequestsJitter = maxRequestsJitter; c.flags["max_requests_jitter"] = "--max-requests-jitter" }
        if let user { c.user = user }
        if let group { c.group = group }
        if let pidfile { c.pidfile = pidfile }
        if let chdir { c.setAppArg("chdir", chdir) }
        if let pythonpath { c.setAppArg("pythonpath", pythonpath) }
        for entry in env {
            let eq = entry.firstIndex(of: "=")!
            let name = String(entry[..<eq])
            c.env.removeAll { $0.name == name }
            c.env.append((name, String(entry[entry.index(after: eq)...])))
        }
        if reload { c.reload = true }
        if let accessLogfile { c.accessLog = accessLogfile == "-" ? "stdout" : accessLogfile }
        if let errorLogfile { c.errorLog = errorLogfile }
        if let logLevel { c.logLevel = logLevel == "critical" ? "error" : logLevel; c.flags["log_level"] = "--log-level" }
        if captureOutput { c.captureOutput = true }
        if let forwardedAllowIPs {
            c.forwardedAllowIPs = forwardedAllowIPs.split(separator: ",").map { String($0).trimmingSpaces() }
            c.flags["forwarded_allow_ips"] = "--forwarded-allow-ips"
        }
        // Gunicorn honours SCRIPT_NAME from the environment.
        if c.scriptName.isEmpty, let s = Sys.environment("SCRIPT_NAME"), !s.isEmpty { c.scriptName = s }
    }

    /// Gunicorn's bind forms: "HOST:PORT", "unix:PATH" and a bare host (port
    /// 8000). Its "fd://N" (any inherited descriptor) is refused in validate().
    static func gunicornBind(_ s: String) -> String {
        if s.hasPrefix("unix:") || s.hasPrefix("fd:") || s.hasPrefix("[") && s.contains("]:") { return s }
        if !s.contains(":") { return s + ":8000" }
        return s
    }

    /// The config file: -c, or /etc/gatewayd.conf when no app is given; none
    /// (the defaults) for a bare `gatewayd myapp:app` or `gatewayd --app X`.
    var configPath: String? {
        if let config { return config }
        return appSpec == nil && app == nil ? "/etc/gatewayd.conf" : nil
    }

    func run() throws {
        var cfg: Config
        do {
            if let path = configPath {
                cfg = try ConfigLoader.load(path: path, overrides: applyOverrides)
            } else {
                cfg = try ConfigLoader.defaults(overrides: applyOverrides)
            }
        } catch {
            printError("gatewayd: \(error)")
            throw ExitCode(1)
        }
        cfg.app = ConfigLoader.absolute(cfg.app)
        if checkConfig {
            let what = configPath.map { "configuration \($0)" } ?? "command line"
            switch AppCheck.run(cfg) {
            case .loaded(let name):
                print("gatewayd: \(what) is valid; app \(name) loads")
            case .failed(let reason):
                printError("gatewayd: \(what) is valid, but the app does not load: \(reason)")
                throw ExitCode(1)
            }
            return
        }
        let errorLog: LogFile, accessLog: LogFile
        do {
            errorLog = try LogFile(path: cfg.errorLog, format: LogFormat(cfg.logFormat))
            accessLog = try LogFile(path: cfg.accessLog, format: LogFormat(cfg.logFormat))
        } catch {
            printError("gatewayd: cannot open log file: \(error)")
            throw ExitCode(1)
        }
        let overrides = applyOverrides
        let path = configPath
        let code = Arbiter(config: cfg, configPath: path ?? "", overrides: { overrides(&$0) },
                           errorLog: errorLog, accessLog: accessLog).run()
        if code != 0 { throw ExitCode(code) }
    }

    func printError(_ s: String) {
        try? Sys.writeAll(2, s + "\n")
    }
}
