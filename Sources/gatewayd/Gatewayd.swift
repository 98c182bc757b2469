import ArgumentParser
import ServerCore
import WorkerPool

/// The command line: read the config, apply flag overrides, run the master.
@main
struct Gatewayd: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gatewayd",
        abstract: "A pre-fork application server for apps that speak the gateway interface.",
        discussion: "Signals: TERM/QUIT graceful stop, INT fast stop, HUP reload, TTIN/TTOU add/remove a worker, USR1 reopen logs. See SIGNALS.md.",
        version: GatewaydVersion.string)

    @Option(name: [.short, .customLong("config")], help: "The configuration file (TOML).")
    var config: String = "/etc/gatewayd.conf"

    @Flag(name: .customLong("check-config"), help: "Validate the configuration and exit: 0 if valid, 1 if not.")
    var checkConfig = false

    @Option(name: .customLong("bind"), help: "Listen address (repeatable): HOST:PORT, [V6]:PORT, unix:/path. Replaces bind.")
    var bind: [String] = []

    @Option(name: .customLong("workers"), help: "Number of worker processes.")
    var workers: Int?

    @Option(name: .customLong("app"), help: "Path of the app shared object.")
    var app: String?

    @Option(name: .customLong("pidfile"), help: "Write the master's pid here.")
    var pidfile: String?

    @Option(name: .customLong("log-level"), help: "debug, info, warning or error.")
    var logLevel: String?

    func applyOverrides(_ c: inout Config) {
        if !bind.isEmpty { c.bind = bind }
        if let workers { c.workers = workers }
        if let app { c.app = app }
        if let pidfile { c.pidfile = pidfile }
        if let logLevel { c.logLevel = logLevel }
    }

    func run() throws {
        var cfg: Config
        do {
            cfg = try ConfigLoader.load(path: config, overrides: applyOverrides)
        } catch {
            printError("gatewayd: \(error)")
            throw ExitCode(1)
        }
        if checkConfig {
            print("gatewayd: configuration \(config) is valid")
            return
        }
        let errorLog: LogFile, accessLog: LogFile
        do {
            errorLog = try LogFile(path: cfg.errorLog)
            accessLog = try LogFile(path: cfg.accessLog)
        } catch {
            printError("gatewayd: cannot open log file: \(error)")
            throw ExitCode(1)
        }
        let overrides = applyOverrides
        cfg.app = ConfigLoader.absolute(cfg.app)
        let code = Arbiter(config: cfg, configPath: config, overrides: { overrides(&$0) },
                           errorLog: errorLog, accessLog: accessLog).run()
        if code != 0 { throw ExitCode(code) }
    }

    func printError(_ s: String) {
        try? Sys.writeAll(2, s + "\n")
    }
}
