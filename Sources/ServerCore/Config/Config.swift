/// The daemon's configuration: every key of gatewayd.conf with its default.
/// ConfigKey.all (ConfigKeys.swift) has an entry per key; docs/configuration.md
/// and etc/gatewayd.conf document each one (ConfigKeysTests checks the table
/// against the loader and docs/configuration.md).
public struct Config: Equatable, Sendable {
    /// Listen addresses: "HOST:PORT", "[V6]:PORT", "unix:/path", or
    /// "fd:NAME"/"fd:N" for a socket inherited through LISTEN_FDS.
    public var bind: [String] = ["127.0.0.1:8000"]
    /// The master's admin listener (/metrics, /status, control on unix sockets); empty: off.
    public var adminBind: [String] = []
    /// File mode of admin unix sockets: the access control of the control verbs.
    public var adminSocketMode: Int = 0o600
    /// Networks whose clients may use a TCP admin address ("10.0.0.0/8",
    /// "::1"); empty: every client. Unix sockets: their file mode.
    public var adminAllow: [String] = []
    public var workers: Int = 2
    /// Path of the app shared object.
    public var app: String = ""
    /// app_args as name/value strings, handed to the app's init.
    public var appArgs: [(name: String, value: String)] = []
    public var timeout: Int = 30
    public var gracefulTimeout: Int = 30
    public var keepaliveTimeout: Int = 5
    public var bootTimeout: Int = 30
    public var headerTimeout: Int = 10
    public var bodyTimeout: Int = 30
    /// Lingering close (nginx's lingering_time/lingering_timeout): how long
    /// unread input is drained after a response that closes the connection.
    public var lingeringTime: Int = 30
    public var lingeringTimeout: Int = 5
    public var maxRequests: Int = 0
    public var maxRequestsJitter: Int = 0
    public var maxWorkerMemory: Int = 0
    public var maxWorkerMemoryHard: Int = 0
    public var pidfile: String = ""
    public var accessLog: String = ""
    public var accessLogFormat: String = AccessLogFormat.combined
    public var errorLog: String = "-"
    public var logLevel: LogLevel = .info
    /// Text or JSON, for the error and the access log.
    public var logFormat: LogFormat = .text
    public var backlog: Int = 2048
    public var workerConnections: Int = 1000
    /// App threads per worker (Gunicorn's --threads): how many requests one
    /// worker's app serves at once. The event loop is a thread of its own.
    public var threads: Int = 1
    /// Slots of the master's scoreboard: one per app thread of every worker
    /// (threads of each). max(workers, max_workers) x threads must fit.
    public static let scoreboardSlots = 4096
    public var unixSocketMode: Int = 0o660
    public var limitRequestLine: Int = 8190
    public var limitRequestFields: Int = 100
    public var limitRequestFieldSize: Int = 8190
    /// The whole head (request line, fields, blank line): what an unfinished
    /// head may cost a connection. nginx: large_client_header_buffers 4 8k.
    public var limitRequestHead: Int = 32768
    public var maxBodySize: Int = 0
    /// A request body up to this many bytes is read by the event loop before
    /// the app is called (0: off), so a client that trickles it pins no app.
    public var bodyBufferSize: Int = 64 << 10
    /// Up to this many unsent response bytes are finished by the event loop
    /// after the app returned (0: off), so a slow reader pins no app.
    public var responseBufferSize: Int = 64 << 10
    /// Where bodies above body_buffer_size are spooled (nginx's
    /// client_body_temp_path): unlinked files (O_TMPFILE). Empty: $TMPDIR, else /tmp.
    public var bodyTempPath: String = ""
    /// The largest body spooled; a bigger one is refused 413 before the app
    /// (unless the app streams bodies). 0: nothing is spooled, bodies above
    /// body_buffer_size stream to the app (holding an app thread).
    public var bodySpoolMaxSize: Int = 1 << 30
    public var user: String = ""
    public var group: String = ""
    public var forwardedAllowIPs: [String] = ["127.0.0.1", "::1", "unix"]
    /// Header and value that make a request from a trusted peer https.
    public var secureSchemeHeaders: [(name: String, value: String)] = Config.defaultSecureSchemeHeaders
    public var reloadStrategy: ReloadStrategy = .generation
    public var allowRoot: Bool = false
    /// Each worker confines itself before the app loads (docs/sandbox.md):
    /// no new privileges, a system-call allow list, Landlock.
    public var sandbox: Bool = true
    /// The sandbox lets the app run programs (execve) after its init.
    public var sandboxAllowExec: Bool = false
    /// The sandbox lets the app bind TCP ports of its own (Landlock ABI 4).
    public var sandboxAllowBind: Bool = false
    /// More paths the app may read (Landlock), and read and write.
    public var sandboxReadPaths: [String] = []
    public var sandboxWritePaths: [String] = []
    /// Environment variables set in each worker before the app loads (Gunicorn's --env).
    public var env: [(name: String, value: String)] = []
    /// The app's stdout and stderr go to the error log (Gunicorn's --capture-output).
    public var captureOutput: Bool = false
    /// Development: reload when the app's files change (Gunicorn's --reload).
    public var reload: Bool = false
    /// Mount the app under this prefix: SCRIPT_NAME, and PATH_INFO without it.
    public var scriptName: String = ""
    /// Demand: up to this many workers while every worker is busy and
    /// connections wait (0: fixed at `workers`).
    public var maxWorkers: Int = 0
    /// Demand: seconds a worker above `workers` may stay idle before it retires.
    public var idleWorkerTimeout: Int = 10
    /// Seconds a request may have waited (X-Request-Start from a trusted
    /// proxy) before it is answered 503 without the app (0: off).
    public var maxQueueWait: Double = 0
    /// Seconds between SIGTERM (readiness fails) and the graceful stop.
    public var drainDelay: Double = 0
    /// The keys a command-line flag or one of Gunicorn's environment
    /// variables set, and its name ("timeout": "--timeout", "workers":
    /// "WEB_CONCURRENCY"): an error in such a value names it, not the file.
    /// Not compared by ==.
    public var flags: [String: String] = [:]

    /// Gunicorn's secure_scheme_headers.
    public static let defaultSecureSchemeHeaders: [(name: String, value: String)] = [
        ("X-Forwarded-Proto", "https"), ("X-Forwarded-Protocol", "ssl"), ("X-Forwarded-Ssl", "on"),
    ]

    /// The largest body_buffer_size and response_buffer_size: per connection,
    /// so worker_connections of them must fit in memory.
    public static let maxBufferSize = 8 << 20

    public init() {}

    /// `log_level`; Gunicorn's "critical" is .error.
    public enum LogLevel: String, CaseIterable, Sendable {
        case debug, info, warning, error

        /// A level in any case ("WARNING"), "critical" as .error; nil if none.
        public init?(anyCase text: String) {
            let name = text.lowercased()
            guard let level = name == "critical" ? .error : LogLevel(rawValue: name) else { return nil }
            self = level
        }
    }

    /// `reload_strategy`: a whole new generation, or worker by worker.
    public enum ReloadStrategy: String, CaseIterable, Sendable {
        case generation, rolling
    }

    /// Sets (or replaces) one app_arg, keeping the order by name.
    public mutating func setAppArg(_ name: String, _ value: String) {
        appArgs.removeAll { $0.name == name }
        appArgs.append((name, value))
        appArgs.sort { $0.name.utf8.lexicographicallyPrecedes($1.name.utf8) }
    }

    /// Equal in every key of ConfigKey.all (flags, the sources of values, aside).
    public static func == (a: Config, b: Config) -> Bool {
        ConfigKey.all.allSatisfy { $0.same(a, b) }
    }
}
