import TOMLKit

/// The keys of gatewayd.conf as one table, after Gunicorn's Setting classes:
/// for each its TOML name, its rule (type and range: how the loader reads
/// it, checks a flag's value, and docs/configuration.md's "type" column),
/// the command-line names that set it, the environment variable that gives
/// its default, the Gunicorn setting of the same meaning, and how two
/// configs compare on it. The loader reads a key by its entry and Config's
/// == is the conjunction of the entries: a new key is one entry here and its
/// Config property. ConfigKeysTests checks the table against the loader
/// (every key read, each changing only its own entry, each range) and
/// against docs/configuration.md (the same keys, types, ranges and defaults).
public struct ConfigKey {
    public let name: String
    /// Its type and range as docs/configuration.md's table writes them.
    public let type: String
    /// The range of an integer key.
    public let range: IntegerRange?
    /// gatewayd's command-line names (Sources/gatewayd/Gatewayd.swift).
    public let flags: [String]
    /// The environment variable that sets its default (Gunicorn's).
    public let environment: String?
    /// Gunicorn's setting of the same meaning, if any.
    public let gunicorn: String?
    /// A TOML value other than the default, for the tests.
    public let sample: String
    let compare: (Config, Config) -> Bool
    let render: (Config) -> String
    /// Reads the file's value into the config, by the rule.
    let read: (ConfigLoader, String, TOMLValueConvertible, inout Config) throws -> Void
    /// Why the config's value is out of the rule's range (set by a flag or
    /// the environment), or nil.
    let problem: (Config) -> String?

    init<T: Equatable>(_ name: String, _ path: WritableKeyPath<Config, T>, _ rule: ConfigRule<T>, flags: [String] = [],
                       environment: String? = nil, gunicorn: String? = nil, sample: String) {
        self.name = name
        type = rule.docs
        range = rule.range
        read = { loader, key, v, c in c[keyPath: path] = try rule.read(loader, key, v) }
        problem = { rule.problem($0[keyPath: path]) }
        self.flags = flags
        self.environment = environment
        self.gunicorn = gunicorn
        self.sample = sample
        compare = { $0[keyPath: path] == $1[keyPath: path] }
        render = { ConfigKey.toml($0[keyPath: path]) }
    }

    /// A key whose value is a list of name/value pairs.
    init(_ name: String, pairs path: WritableKeyPath<Config, [(name: String, value: String)]>,
         _ rule: ConfigRule<[(name: String, value: String)]>, flags: [String] = [], gunicorn: String? = nil, sample: String) {
        self.name = name
        type = rule.docs
        range = nil
        read = { loader, key, v, c in c[keyPath: path] = try rule.read(loader, key, v) }
        problem = { _ in nil }
        self.flags = flags
        self.environment = nil
        self.gunicorn = gunicorn
        self.sample = sample
        compare = { a, b in
            a[keyPath: path].map(\.name) == b[keyPath: path].map(\.name)
                && a[keyPath: path].map(\.value) == b[keyPath: path].map(\.value)
        }
        render = { c in
            "{ " + c[keyPath: path].map { "\(ConfigKey.toml($0.name)) = \(ConfigKey.toml($0.value))" }.joined(separator: ", ") + " }"
        }
    }

    /// Whether `a` and `b` have the same value for this key.
    public func same(_ a: Config, _ b: Config) -> Bool { compare(a, b) }

    /// This key's value in `c` as TOML ("30", "\"info\"", "[\"127.0.0.1:8000\"]"),
    /// for --print-config; modes in octal.
    public func value(in c: Config) -> String {
        switch name {
        case "admin_socket_mode": return "\"0" + String(c.adminSocketMode, radix: 8) + "\""
        case "unix_socket_mode": return "\"0" + String(c.unixSocketMode, radix: 8) + "\""
        default: return render(c)
        }
    }

    static func toml(_ v: Any) -> String {
        switch v {
        case let s as String:
            var out = "\""
            for u in s.unicodeScalars {
                switch u {
                case "\"": out += "\\\""
                case "\\": out += "\\\\"
                case "\n": out += "\\n"
                default:
                    if u.value < 0x20 || u.value == 0x7F {
                        let hex = String(u.value, radix: 16, uppercase: true)
                        out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                    } else {
                        out.unicodeScalars.append(u)
                    }
                }
            }
            return out + "\""
        case let a as [String]: return "[" + a.map { toml($0) }.joined(separator: ", ") + "]"
        case let e as ConfigEnum: return toml(e.text)
        default: return "\(v)"
        }
    }

    /// The entries by name.
    static let named: [String: ConfigKey] = Dictionary(uniqueKeysWithValues: all.map { ($0.name, $0) })

    public static let all: [ConfigKey] = [
        ConfigKey("bind", \.bind, .strings, flags: ["-b", "--bind"], environment: "PORT", gunicorn: "bind", sample: #"["127.0.0.1:9"]"#),
        ConfigKey("backlog", \.backlog, .integer(min: 1, max: 65535), flags: ["--backlog"], gunicorn: "backlog", sample: "64"),
        ConfigKey("unix_socket_mode", \.unixSocketMode, .mode, gunicorn: "umask", sample: #""0666""#),
        ConfigKey("admin_bind", \.adminBind, .strings, sample: #"["127.0.0.1:9"]"#),
        ConfigKey("admin_socket_mode", \.adminSocketMode, .mode, sample: #""0660""#),
        ConfigKey("admin_allow", \.adminAllow, .strings, sample: #"["10.0.0.0/8"]"#),
        ConfigKey("workers", \.workers, .integer(min: 1, max: 1024), flags: ["-w", "--workers"], environment: "WEB_CONCURRENCY", gunicorn: "workers", sample: "3"),
        ConfigKey("max_workers", \.maxWorkers, .integer(min: 0, max: 1024), sample: "4"),
        ConfigKey("idle_worker_timeout", \.idleWorkerTimeout, .integer("seconds", min: 1), sample: "20"),
        ConfigKey("max_queue_wait", \.maxQueueWait, .seconds(max: 3600), sample: "0.5"),
        ConfigKey("drain_delay", \.drainDelay, .seconds(max: 3600), sample: "2"),
        ConfigKey("threads", \.threads, .integer(min: 1, max: 256), flags: ["--threads"], gunicorn: "threads", sample: "4"),
        ConfigKey("worker_connections", \.workerConnections, .integer(min: 1, max: 1_000_000), flags: ["--worker-connections"], gunicorn: "worker_connections", sample: "10"),
        ConfigKey("app", \.app, .string, flags: ["APP", "--app"], gunicorn: "wsgi_app", sample: #""b.so""#),
        ConfigKey("app_args", pairs: \.appArgs, .appArgs, flags: ["APP", "--chdir", "--pythonpath"], gunicorn: "chdir, pythonpath", sample: #"{ chdir = "/srv" }"#),
        ConfigKey("user", \.user, .string, flags: ["-u", "--user"], gunicorn: "user", sample: #""nobody""#),
        ConfigKey("group", \.group, .string, flags: ["-g", "--group"], gunicorn: "group", sample: #""nogroup""#),
        ConfigKey("allow_root", \.allowRoot, .boolean, sample: "true"),
        ConfigKey("sandbox", \.sandbox, .boolean, sample: "false"),
        ConfigKey("sandbox_allow_exec", \.sandboxAllowExec, .boolean, sample: "true"),
        ConfigKey("sandbox_allow_bind", \.sandboxAllowBind, .boolean, sample: "true"),
        ConfigKey("sandbox_read_paths", \.sandboxReadPaths, .absolutePaths, sample: #"["/srv/data"]"#),
        ConfigKey("sandbox_write_paths", \.sandboxWritePaths, .absolutePaths, sample: #"["/var/lib/app"]"#),
        ConfigKey("env", pairs: \.env, .environment, flags: ["-e", "--env"], gunicorn: "raw_env", sample: #"["A=1"]"#),
        ConfigKey("script_name", \.scriptName, .scriptName, environment: "SCRIPT_NAME", sample: #""/app""#),
        ConfigKey("capture_output", \.captureOutput, .boolean, flags: ["--capture-output"], gunicorn: "capture_output", sample: "true"),
        ConfigKey("reload", \.reload, .boolean, flags: ["--reload"], gunicorn: "reload", sample: "true"),
        ConfigKey("pidfile", \.pidfile, .string, flags: ["-p", "--pid", "--pidfile"], gunicorn: "pidfile", sample: #""/run/g.pid""#),
        ConfigKey("timeout", \.timeout, .integer("seconds", min: 0), flags: ["-t", "--timeout"], gunicorn: "timeout", sample: "60"),
        ConfigKey("graceful_timeout", \.gracefulTimeout, .integer("seconds", min: 0), flags: ["--graceful-timeout"], gunicorn: "graceful_timeout", sample: "60"),
        ConfigKey("keepalive_timeout", \.keepaliveTimeout, .integer("seconds", min: 0), flags: ["--keep-alive"], gunicorn: "keepalive", sample: "2"),
        ConfigKey("header_timeout", \.headerTimeout, .integer("seconds", min: 1), sample: "20"),
        ConfigKey("body_timeout", \.bodyTimeout, .integer("seconds", min: 1), sample: "20"),
        ConfigKey("lingering_time", \.lingeringTime, .integer("seconds", min: 0), sample: "20"),
        ConfigKey("lingering_timeout", \.lingeringTimeout, .integer("seconds", min: 1), sample: "2"),
        ConfigKey("boot_timeout", \.bootTimeout, .integer("seconds", min: 1), sample: "20"),
        ConfigKey("max_requests", \.maxRequests, .integer(min: 0), flags: ["--max-requests"], gunicorn: "max_requests", sample: "1000"),
        ConfigKey("max_requests_jitter", \.maxRequestsJitter, .integer(min: 0), flags: ["--max-requests-jitter"], gunicorn: "max_requests_jitter", sample: "10"),
        ConfigKey("max_worker_memory", \.maxWorkerMemory, .integer("MB", min: 0), sample: "100"),
        ConfigKey("max_worker_memory_hard", \.maxWorkerMemoryHard, .integer("MB", min: 0), sample: "200"),
        ConfigKey("reload_strategy", \.reloadStrategy, .oneOf, sample: #""rolling""#),
        ConfigKey("limit_request_line", \.limitRequestLine, .integer(min: 64, max: 1 << 20), flags: ["--limit-request-line"], gunicorn: "limit_request_line", sample: "4096"),
        ConfigKey("limit_request_fields", \.limitRequestFields, .integer(min: 1, max: 32768), flags: ["--limit-request-fields"], gunicorn: "limit_request_fields", sample: "50"),
        ConfigKey("limit_request_field_size", \.limitRequestFieldSize, .integer(min: 64, max: 1 << 20), flags: ["--limit-request-field-size", "--limit-request-field_size"],
                  gunicorn: "limit_request_field_size", sample: "4096"),
        ConfigKey("limit_request_head", \.limitRequestHead, .integer("bytes", min: 1024, max: 1 << 24), sample: "16384"),
        ConfigKey("max_body_size", \.maxBodySize, .integer("bytes", min: 0), sample: "1048576"),
        ConfigKey("body_buffer_size", \.bodyBufferSize, .integer("bytes", min: 0, max: Config.maxBufferSize), sample: "0"),
        ConfigKey("body_temp_path", \.bodyTempPath, .string, sample: #""/var/tmp""#),
        ConfigKey("body_spool_max_size", \.bodySpoolMaxSize, .integer("bytes", min: 0), sample: "0"),
        ConfigKey("response_buffer_size", \.responseBufferSize, .integer("bytes", min: 0, max: Config.maxBufferSize), sample: "0"),
        ConfigKey("forwarded_allow_ips", \.forwardedAllowIPs, .strings, flags: ["--forwarded-allow-ips"], environment: "FORWARDED_ALLOW_IPS",
                  gunicorn: "forwarded_allow_ips", sample: #"["10.0.0.0/8"]"#),
        ConfigKey("secure_scheme_headers", pairs: \.secureSchemeHeaders, .headerTable, gunicorn: "secure_scheme_headers", sample: #"{ "X-Scheme" = "https" }"#),
        ConfigKey("error_log", \.errorLog, .string, flags: ["--error-logfile", "--log-file"], gunicorn: "errorlog", sample: #""/var/log/e.log""#),
        ConfigKey("log_level", \.logLevel, .logLevel, flags: ["--log-level"], gunicorn: "loglevel", sample: #""debug""#),
        ConfigKey("log_format", \.logFormat, .oneOf, sample: #""json""#),
        ConfigKey("access_log", \.accessLog, .string, flags: ["--access-logfile"], gunicorn: "accesslog", sample: #""stdout""#),
        ConfigKey("access_log_format", \.accessLogFormat, .accessLogFormat, sample: #""common""#),
    ]
}

/// The enum-valued keys, written as their TOML strings.
protocol ConfigEnum {
    var text: String { get }
}

extension ConfigEnum where Self: RawRepresentable, RawValue == String {
    var text: String { rawValue }
}

extension Config.LogLevel: ConfigEnum {}
extension Config.ReloadStrategy: ConfigEnum {}
extension LogFormat: ConfigEnum {}
