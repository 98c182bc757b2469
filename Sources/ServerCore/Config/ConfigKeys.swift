/// The keys of gatewayd.conf as one table, after Gunicorn's Setting classes:
/// for each its TOML name, the command-line names that set it, the
/// environment variable that gives its default, the Gunicorn setting of the
/// same meaning, and how two configs compare on it. Config's == is the
/// conjunction of the entries; ConfigKeysTests checks the table against the
/// loader (every key read, each changing only its own entry) and against
/// docs/configuration.md (the same keys, the documented defaults).
public struct ConfigKey {
    public let name: String
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

    init<T: Equatable>(_ name: String, _ path: KeyPath<Config, T>, flags: [String] = [], environment: String? = nil,
                       gunicorn: String? = nil, sample: String) {
        self.name = name
        self.flags = flags
        self.environment = environment
        self.gunicorn = gunicorn
        self.sample = sample
        compare = { $0[keyPath: path] == $1[keyPath: path] }
        render = { ConfigKey.toml($0[keyPath: path]) }
    }

    /// A key whose value is a list of name/value pairs.
    init(_ name: String, pairs path: KeyPath<Config, [(name: String, value: String)]>, flags: [String] = [],
         gunicorn: String? = nil, sample: String) {
        self.name = name
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

    public static let all: [ConfigKey] = [
        ConfigKey("bind", \.bind, flags: ["-b", "--bind"], environment: "PORT", gunicorn: "bind", sample: #"["127.0.0.1:9"]"#),
        ConfigKey("backlog", \.backlog, flags: ["--backlog"], gunicorn: "backlog", sample: "64"),
        ConfigKey("unix_socket_mode", \.unixSocketMode, gunicorn: "umask", sample: #""0666""#),
        ConfigKey("admin_bind", \.adminBind, sample: #"["127.0.0.1:9"]"#),
        ConfigKey("admin_socket_mode", \.adminSocketMode, sample: #""0660""#),
        ConfigKey("admin_allow", \.adminAllow, sample: #"["10.0.0.0/8"]"#),
        ConfigKey("workers", \.workers, flags: ["-w", "--workers"], environment: "WEB_CONCURRENCY", gunicorn: "workers", sample: "3"),
        ConfigKey("max_workers", \.maxWorkers, sample: "4"),
        ConfigKey("idle_worker_timeout", \.idleWorkerTimeout, sample: "20"),
        ConfigKey("max_queue_wait", \.maxQueueWait, sample: "0.5"),
        ConfigKey("drain_delay", \.drainDelay, sample: "2"),
        ConfigKey("worker_connections", \.workerConnections, flags: ["--worker-connections"], gunicorn: "worker_connections", sample: "10"),
        ConfigKey("app", \.app, flags: ["APP", "--app"], gunicorn: "wsgi_app", sample: #""b.so""#),
        ConfigKey("app_args", pairs: \.appArgs, flags: ["APP", "--chdir", "--pythonpath"], gunicorn: "chdir, pythonpath", sample: #"{ chdir = "/srv" }"#),
        ConfigKey("user", \.user, flags: ["-u", "--user"], gunicorn: "user", sample: #""nobody""#),
        ConfigKey("group", \.group, flags: ["-g", "--group"], gunicorn: "group", sample: #""nogroup""#),
        ConfigKey("allow_root", \.allowRoot, sample: "true"),
        ConfigKey("sandbox", \.sandbox, sample: "false"),
        ConfigKey("sandbox_allow_exec", \.sandboxAllowExec, sample: "true"),
        ConfigKey("sandbox_read_paths", \.sandboxReadPaths, sample: #"["/srv/data"]"#),
        ConfigKey("sandbox_write_paths", \.sandboxWritePaths, sample: #"["/var/lib/app"]"#),
        ConfigKey("env", pairs: \.env, flags: ["-e", "--env"], gunicorn: "raw_env", sample: #"["A=1"]"#),
        ConfigKey("script_name", \.scriptName, environment: "SCRIPT_NAME", sample: #""/app""#),
        ConfigKey("capture_output", \.captureOutput, flags: ["--capture-output"], gunicorn: "capture_output", sample: "true"),
        ConfigKey("reload", \.reload, flags: ["--reload"], gunicorn: "reload", sample: "true"),
        ConfigKey("pidfile", \.pidfile, flags: ["-p", "--pid", "--pidfile"], gunicorn: "pidfile", sample: #""/run/g.pid""#),
        ConfigKey("timeout", \.timeout, flags: ["-t", "--timeout"], gunicorn: "timeout", sample: "60"),
        ConfigKey("graceful_timeout", \.gracefulTimeout, flags: ["--graceful-timeout"], gunicorn: "graceful_timeout", sample: "60"),
        ConfigKey("keepalive_timeout", \.keepaliveTimeout, flags: ["--keep-alive"], gunicorn: "keepalive", sample: "2"),
        ConfigKey("header_timeout", \.headerTimeout, sample: "20"),
        ConfigKey("body_timeout", \.bodyTimeout, sample: "20"),
        ConfigKey("lingering_time", \.lingeringTime, sample: "20"),
        ConfigKey("lingering_timeout", \.lingeringTimeout, sample: "2"),
        ConfigKey("boot_timeout", \.bootTimeout, sample: "20"),
        ConfigKey("max_requests", \.maxRequests, flags: ["--max-requests"], gunicorn: "max_requests", sample: "1000"),
        ConfigKey("max_requests_jitter", \.maxRequestsJitter, flags: ["--max-requests-jitter"], gunicorn: "max_requests_jitter", sample: "10"),
        ConfigKey("max_worker_memory", \.maxWorkerMemory, sample: "100"),
        ConfigKey("max_worker_memory_hard", \.maxWorkerMemoryHard, sample: "200"),
        ConfigKey("reload_strategy", \.reloadStrategy, sample: #""rolling""#),
        ConfigKey("limit_request_line", \.limitRequestLine, flags: ["--limit-request-line"], gunicorn: "limit_request_line", sample: "4096"),
        ConfigKey("limit_request_fields", \.limitRequestFields, flags: ["--limit-request-fields"], gunicorn: "limit_request_fields", sample: "50"),
        ConfigKey("limit_request_field_size", \.limitRequestFieldSize, flags: ["--limit-request-field-size", "--limit-request-field_size"],
                  gunicorn: "limit_request_field_size", sample: "4096"),
        ConfigKey("limit_request_head", \.limitRequestHead, sample: "16384"),
        ConfigKey("max_body_size", \.maxBodySize, sample: "1048576"),
        ConfigKey("body_buffer_size", \.bodyBufferSize, sample: "0"),
        ConfigKey("response_buffer_size", \.responseBufferSize, sample: "0"),
        ConfigKey("forwarded_allow_ips", \.forwardedAllowIPs, flags: ["--forwarded-allow-ips"], environment: "FORWARDED_ALLOW_IPS",
                  gunicorn: "forwarded_allow_ips", sample: #"["10.0.0.0/8"]"#),
        ConfigKey("secure_scheme_headers", pairs: \.secureSchemeHeaders, gunicorn: "secure_scheme_headers", sample: #"{ "X-Scheme" = "https" }"#),
        ConfigKey("error_log", \.errorLog, flags: ["--error-logfile", "--log-file"], gunicorn: "errorlog", sample: #""/var/log/e.log""#),
        ConfigKey("log_level", \.logLevel, flags: ["--log-level"], gunicorn: "loglevel", sample: #""debug""#),
        ConfigKey("log_format", \.logFormat, sample: #""json""#),
        ConfigKey("access_log", \.accessLog, flags: ["--access-logfile"], gunicorn: "accesslog", sample: #""stdout""#),
        ConfigKey("access_log_format", \.accessLogFormat, sample: #""common""#),
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
