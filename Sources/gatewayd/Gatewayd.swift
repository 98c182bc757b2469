import ArgumentParser
#if canImport(Glibc)
import Glibc
#endif
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

    @Flag(name: .customLong("print-config"), help: "Print the configuration (the file, the environment and the flags) as gatewayd.conf keys, then exit.")
    var printConfig = false

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

    @Option(name: [.customLong("error-logfile"), .customLong("log-file")], help: "The error log file ('-': stderr).")
    var errorLogfile: String?

    @Option(name: .customLong("log-level"), help: "debug, info, warning, error, in any case (critical counts as error).")
    var logLevel: String?

    @Flag(name: .customLong("capture-output"), help: "Send the app's stdout and stderr to the error log.")
    var captureOutput = false

    @Option(name: .customLong("forwarded-allow-ips"), help: "Comma-separated addresses or networks (10.0.0.0/8) of proxies whose X-Forwarded-* are believed ('*': all).")
    var forwardedAllowIPs: String?

    @Option(name: .customLong("app"), help: "Path of the app shared object (as the app key).")
    var app: String?

    @Option(name: .customLong("backlog"), help: "The listen backlog (backlog).")
    var backlog: Int?

    @Option(name: .customLong("threads"), help: "App threads per worker: requests one worker's app serves at once (threads).")
    var threads: Int?
    @Option(name: .customLong("worker-connections"), help: "Connections each worker's event loop keeps (worker_connections).")
    var workerConnections: Int?

    @Option(name: .customLong("limit-request-line"), help: "The longest request line, in bytes (limit_request_line).")
    var limitRequestLine: Int?

    @Option(name: .customLong("limit-request-fields"), help: "The most header fields in a request (limit_request_fields).")
    var limitRequestFields: Int?

    @Option(name: [.customLong("limit-request-field-size"), .customLong("limit-request-field_size")],
            help: "The longest header field, in bytes (limit_request_field_size).")
    var limitRequestFieldSize: Int?

    /// Gunicorn's options that gatewayd does not offer are refused with the
    /// reason (docs/wsgi.md) before ArgumentParser would call them unknown or
    /// suggest a near name (--preload is not --reload).
    static func main() {
        if let refusal = GunicornOptions.refusal(CommandLine.arguments.dropFirst()) {
            try? Sys.writeAll(2, "gatewayd: \(refusal)\n")
            Glibc.exit(64)
        }
        main(nil)
    }

    /// GATEWAYD_CMD_ARGS, as Gunicorn's GUNICORN_CMD_ARGS: flags split as a
    /// shell would, applied over the config file and under the command line.
    static func environmentCommand() throws -> Gatewayd? {
        guard let text = Sys.environment("GATEWAYD_CMD_ARGS"), !text.trimmingSpaces().isEmpty else { return nil }
        func usage(_ message: String) -> Error {
            try? Sys.writeAll(2, "gatewayd: GATEWAYD_CMD_ARGS: \(message)\n")
            return ExitCode(64)
        }
        guard let args = ShellWords.split(text) else { throw usage("unbalanced quotes in \"\(text)\"") }
        if let refusal = GunicornOptions.refusal(args) { throw usage(refusal) }
        let command: Gatewayd
        do {
            command = try Gatewayd.parse(args)
        } catch {
            throw usage(Gatewayd.message(for: error))
        }
        if command.appSpec != nil { throw usage("the APP argument belongs on the command line") }
        return command
    }

    /// For the tests: ConfigKey.all, one key a line (name, flags, environment
    /// variable, Gunicorn setting; tab-separated).
    @Flag(name: .customLong("config-keys"), help: .hidden)
    var configKeys = false

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
        if let logLevel, let level = Config.LogLevel(anyCase: logLevel) { c.logLevel = level; c.flags["log_level"] = "--log-level" }
        if let backlog { c.backlog = backlog; c.flags["backlog"] = "--backlog" }
        if let threads { c.threads = threads; c.flags["threads"] = "--threads" }
        if let workerConnections { c.workerConnections = workerConnections; c.flags["worker_connections"] = "--worker-connections" }
        if let limitRequestLine { c.limitRequestLine = limitRequestLine; c.flags["limit_request_line"] = "--limit-request-line" }
        if let limitRequestFields { c.limitRequestFields = limitRequestFields; c.flags["limit_request_fields"] = "--limit-request-fields" }
        if let limitRequestFieldSize {
            c.limitRequestFieldSize = limitRequestFieldSize
            c.flags["limit_request_field_size"] = "--limit-request-field-size"
        }
        if captureOutput { c.captureOutput = true }
        if let forwardedAllowIPs {
            c.forwardedAllowIPs = ConfigLoader.commaList(forwardedAllowIPs)
            c.flags["forwarded_allow_ips"] = "--forwarded-allow-ips"
        }
    }

    /// Gunicorn's bind forms: "HOST:PORT", "unix:PATH" and a bare host (port
    /// 8000). Its "fd://N" (any inherited descriptor) is refused in validate().
    static func gunicornBind(_ s: String) -> String {
        if s.hasPrefix("unix:") || s.hasPrefix("fd:") || s.hasPrefix("[") && s.contains("]:") { return s }
        if !s.contains(":") { return s + ":8000" }
        return s
    }

    /// The config file: -c (on the command line, else in GATEWAYD_CMD_ARGS),
    /// or /etc/gatewayd.conf when no app is given; none (the defaults) for a
    /// bare `gatewayd myapp:app` or `gatewayd --app X`.
    func configPath(_ fromEnvironment: Gatewayd?) -> String? {
        if let config = config ?? fromEnvironment?.config { return config }
        let noApp = appSpec == nil && app == nil && fromEnvironment?.appSpec == nil && fromEnvironment?.app == nil
        return noApp ? "/etc/gatewayd.conf" : nil
    }

    func run() throws {
        if configKeys {
            for k in ConfigKey.all { print([k.name, k.flags.joined(separator: ","), k.environment ?? "", k.gunicorn ?? ""].joined(separator: "\t")) }
            return
        }
        let fromEnvironment = try Self.environmentCommand()
        let checkConfig = checkConfig || fromEnvironment?.checkConfig == true
        let configPath = configPath(fromEnvironment)
        if let path = configPath, let refusal = Self.gunicornConfigFile(path) {
            printError("gatewayd: \(refusal)")
            throw ExitCode(1)
        }
        // A gunicorn.conf.py where Gunicorn would read it (no -c): named, with
        // the flags for its settings, but never run.
        let confWarning = (config ?? fromEnvironment?.config) == nil ? Self.gunicornConfWarning() : nil
        if checkConfig, let confWarning { printError("gatewayd: warning: \(confWarning)") }
        // --log-level is checked by log_level's rule (exit 1, as the other keys' rules).
        for (source, level) in [("GATEWAYD_CMD_ARGS: ", fromEnvironment?.logLevel), ("", logLevel)] {
            if let level, let problem = ConfigLoader.logLevelProblem(level) {
                printError("gatewayd: \(source)--log-level: \(problem)")
                throw ExitCode(1)
            }
        }
        let overrides: (inout Config) -> Void = { c in
            fromEnvironment?.applyOverrides(&c)
            self.applyOverrides(&c)
        }
        var cfg: Config
        do {
            if let path = configPath {
                cfg = try ConfigLoader.load(path: path, overrides: overrides)
            } else {
                cfg = try ConfigLoader.defaults(overrides: overrides)
            }
        } catch {
            if !checkConfig, let confWarning { printError("gatewayd: warning: \(confWarning)") }
            printError("gatewayd: \(error)")
            throw ExitCode(1)
        }
        cfg.app = ConfigLoader.absolute(cfg.app)
        if printConfig || fromEnvironment?.printConfig == true {
            for key in ConfigKey.all { print("\(key.name) = \(key.value(in: cfg))") }
            return
        }
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
            errorLog = try LogFile(path: cfg.errorLog, format: cfg.logFormat)
            accessLog = try LogFile(path: cfg.accessLog, format: cfg.logFormat)
        } catch {
            printError("gatewayd: cannot open log file: \(error)")
            throw ExitCode(1)
        }
        if let confWarning, cfg.logLevel != .error {
            errorLog.write(record: LogRecord(level: "warning", source: "master", pid: Sys.getpid(), message: confWarning))
        }
        let path = configPath
        let code = Arbiter(config: cfg, configPath: path ?? "", overrides: { overrides(&$0) },
                           errorLog: errorLog, accessLog: accessLog).run()
        if code != 0 { throw ExitCode(code) }
    }

    /// Why `path` (-c) is a Gunicorn configuration rather than gatewayd's
    /// TOML, with the flags for its settings; nil for anything else.
    static func gunicornConfigFile(_ path: String) -> String? {
        guard path.hasSuffix(".py") || path.hasPrefix("python:") else { return nil }
        let text = (try? FileReader.readText(path)) ?? ""
        let settings = GunicornOptions.settings(inConfFile: text).map { "\($0.name): \($0.advice)" }
        return "-c \(path): a Gunicorn configuration (Python), which gatewayd never runs; its configuration is TOML (docs/configuration.md)"
            + (settings.isEmpty ? "" : ". Its settings: " + settings.joined(separator: "; "))
    }

    /// The warning for ./gunicorn.conf.py, or nil.
    static func gunicornConfWarning() -> String? {
        let path = "gunicorn.conf.py"
        guard Sys.isReadable(path), let text = try? FileReader.readText(path) else { return nil }
        return GunicornOptions.confFileWarning(path: ConfigLoader.absolute(path), text: text)
    }

    func printError(_ s: String) {
        try? Sys.writeAll(2, s + "\n")
    }
}
