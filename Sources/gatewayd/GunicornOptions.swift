/// Gunicorn's settings (gunicorn/config.py's Setting classes: the name in
/// gunicorn.conf.py and the command-line names) and what gatewayd makes of
/// each: its own flag, a gatewayd.conf key, or a refusal with the reason.
/// The reasons are docs/wsgi.md's "Not offered" table, word for word
/// (Tests/integration/test_cli.py checks the two against each other).
enum GunicornOptions {
    enum Advice: Equatable {
        /// gatewayd's flag(s) for it: "-w/--workers".
        case flag(String)
        /// A gatewayd.conf key (no flag).
        case key(String)
        case notOffered(String)
    }

    struct Setting {
        let name: String
        let cli: [String]
        let advice: Advice
    }

    // The reasons (docs/wsgi.md, "Not offered, and why").
    static let workerClass = "every worker is gthread-like: an event loop thread for the connections and --threads app threads for the requests (ASGI is another interface)"
    static let preload = "the master never imports the app (it never runs app code): every worker imports it after the fork, so a reload always gets fresh code and a crash in import cannot take the master down"
    static let hooks = "no Python runs in the master; per-worker setup goes in the module (it runs in each worker); what worker_abort is mostly used for, the stack of a timed-out worker, is in the error log without a hook"
    static let statsd = "the admin listener (admin_bind) serves Prometheus metrics at /metrics instead"
    static let tls = "terminate TLS in nginx in front"
    static let daemon = "run under systemd (Type=notify)"
    static let workerTmpDir = "the heartbeat is a pipe and shared memory, not a file"
    static let reloadEngine = "--reload watches the project's .py files with inotify: no other engine, no extra files"
    static let spew = "no line tracing: gatewayctl dump PID shows where a worker is"
    static let sendfile = "wsgi.file_wrapper over a regular file is always sent with sendfile(2)"
    static let reusePort = "the master binds each address once and its workers share the socket"
    static let umask = "set UMask= in the systemd service (or umask before starting gatewayd)"
    static let initgroups = "the workers always get their user's supplementary groups"
    static let accessLogFormat = "the config key access_log_format takes $variables as nginx does, not Gunicorn's %(h)s atoms"
    static let logging = "logging is gatewayd's own: error_log and access_log (files, stdout, stderr or the journal), log_format text or json"
    static let stdio = "the app's stdout and stderr are gatewayd's already; --capture-output sends them to the error log"
    static let procName = "process titles are not set; gatewayctl status lists the workers"
    static let paste = "PasteDeploy files are not read: name the WSGI callable as module:callable"
    static let proxyProtocol = "the PROXY protocol is not read: a proxy in forwarded_allow_ips passes the client in X-Forwarded-For"
    static let protocolPrefix = "the protocol is a prefix of the bind address (uwsgi:, fastcgi:, scgi:), its peers trusted by forwarded_allow_ips"
    static let http2 = "HTTP/1.1 only: nginx in front speaks HTTP/2 to the clients"
    static let parser = "the HTTP parser is strict and not configurable (docs/http.md)"
    static let forwarderHeaders = "forwarded headers are X-Forwarded-For and secure_scheme_headers from forwarded_allow_ips peers only"
    static let asgi = "ASGI is another interface: gatewayd serves WSGI apps"
    static let dirty = "no dirty workers: run long tasks in a task queue"
    static let control = "the admin listener (admin_bind) and gatewayctl are gatewayd's control socket"
    static let uploads = "bodies above body_buffer_size are spooled by the event loop to unlinked files in body_temp_path (a config key)"

    static let settings: [Setting] = [
        Setting(name: "config", cli: ["-c", "--config"], advice: .flag("-c/--config (a TOML file)")),
        Setting(name: "wsgi_app", cli: [], advice: .flag("the APP argument")),
        Setting(name: "bind", cli: ["-b", "--bind"], advice: .flag("-b/--bind")),
        Setting(name: "backlog", cli: ["--backlog"], advice: .flag("--backlog")),
        Setting(name: "workers", cli: ["-w", "--workers"], advice: .flag("-w/--workers")),
        Setting(name: "worker_class", cli: ["-k", "--worker-class"], advice: .notOffered(workerClass)),
        Setting(name: "threads", cli: ["--threads"], advice: .flag("--threads")),
        Setting(name: "worker_connections", cli: ["--worker-connections"], advice: .flag("--worker-connections")),
        Setting(name: "max_requests", cli: ["--max-requests"], advice: .flag("--max-requests")),
        Setting(name: "max_requests_jitter", cli: ["--max-requests-jitter"], advice: .flag("--max-requests-jitter")),
        Setting(name: "timeout", cli: ["-t", "--timeout"], advice: .flag("-t/--timeout")),
        Setting(name: "graceful_timeout", cli: ["--graceful-timeout"], advice: .flag("--graceful-timeout")),
        Setting(name: "keepalive", cli: ["--keep-alive"], advice: .flag("--keep-alive")),
        Setting(name: "limit_request_line", cli: ["--limit-request-line"], advice: .flag("--limit-request-line")),
        Setting(name: "limit_request_fields", cli: ["--limit-request-fields"], advice: .flag("--limit-request-fields")),
        Setting(name: "limit_request_field_size", cli: ["--limit-request-field_size"], advice: .flag("--limit-request-field-size")),
        Setting(name: "reload", cli: ["--reload"], advice: .flag("--reload")),
        Setting(name: "reload_engine", cli: ["--reload-engine"], advice: .notOffered(reloadEngine)),
        Setting(name: "reload_extra_files", cli: ["--reload-extra-file"], advice: .notOffered(reloadEngine)),
        Setting(name: "spew", cli: ["--spew"], advice: .notOffered(spew)),
        Setting(name: "check_config", cli: ["--check-config"], advice: .flag("--check-config")),
        Setting(name: "print_config", cli: ["--print-config"], advice: .flag("--print-config")),
        Setting(name: "preload_app", cli: ["--preload"], advice: .notOffered(preload)),
        Setting(name: "sendfile", cli: ["--no-sendfile"], advice: .notOffered(sendfile)),
        Setting(name: "reuse_port", cli: ["--reuse-port"], advice: .notOffered(reusePort)),
        Setting(name: "chdir", cli: ["--chdir"], advice: .flag("--chdir")),
        Setting(name: "daemon", cli: ["-D", "--daemon"], advice: .notOffered(daemon)),
        Setting(name: "raw_env", cli: ["-e", "--env"], advice: .flag("-e/--env")),
        Setting(name: "pidfile", cli: ["-p", "--pid"], advice: .flag("-p/--pid")),
        Setting(name: "worker_tmp_dir", cli: ["--worker-tmp-dir"], advice: .notOffered(workerTmpDir)),
        Setting(name: "user", cli: ["-u", "--user"], advice: .flag("-u/--user")),
        Setting(name: "group", cli: ["-g", "--group"], advice: .flag("-g/--group")),
        Setting(name: "umask", cli: ["-m", "--umask"], advice: .notOffered(umask)),
        Setting(name: "initgroups", cli: ["--initgroups"], advice: .notOffered(initgroups)),
        Setting(name: "tmp_upload_dir", cli: [], advice: .notOffered(uploads)),
        Setting(name: "secure_scheme_headers", cli: [], advice: .key("secure_scheme_headers")),
        Setting(name: "forwarded_allow_ips", cli: ["--forwarded-allow-ips"], advice: .flag("--forwarded-allow-ips")),
        Setting(name: "accesslog", cli: ["--access-logfile"], advice: .flag("--access-logfile")),
        Setting(name: "disable_redirect_access_to_syslog", cli: ["--disable-redirect-access-to-syslog"], advice: .notOffered(logging)),
        Setting(name: "access_log_format", cli: ["--access-logformat"], advice: .notOffered(accessLogFormat)),
        Setting(name: "errorlog", cli: ["--error-logfile", "--log-file"], advice: .flag("--error-logfile")),
        Setting(name: "loglevel", cli: ["--log-level"], advice: .flag("--log-level")),
        Setting(name: "capture_output", cli: ["--capture-output"], advice: .flag("--capture-output")),
        Setting(name: "logger_class", cli: ["--logger-class"], advice: .notOffered(logging)),
        Setting(name: "logconfig", cli: ["--log-config"], advice: .notOffered(logging)),
        Setting(name: "logconfig_dict", cli: [], advice: .notOffered(logging)),
        Setting(name: "logconfig_json", cli: ["--log-config-json"], advice: .notOffered(logging)),
        Setting(name: "syslog_addr", cli: ["--log-syslog-to"], advice: .notOffered(logging)),
        Setting(name: "syslog", cli: ["--log-syslog"], advice: .notOffered(logging)),
        Setting(name: "syslog_prefix", cli: ["--log-syslog-prefix"], advice: .notOffered(logging)),
        Setting(name: "syslog_facility", cli: ["--log-syslog-facility"], advice: .notOffered(logging)),
        Setting(name: "enable_stdio_inheritance", cli: ["-R", "--enable-stdio-inheritance"], advice: .notOffered(stdio)),
        Setting(name: "statsd_host", cli: ["--statsd-host"], advice: .notOffered(statsd)),
        Setting(name: "dogstatsd_tags", cli: ["--dogstatsd-tags"], advice: .notOffered(statsd)),
        Setting(name: "statsd_prefix", cli: ["--statsd-prefix"], advice: .notOffered(statsd)),
        Setting(name: "enable_backlog_metric", cli: ["--enable-backlog-metric"], advice: .notOffered(statsd)),
        Setting(name: "proc_name", cli: ["-n", "--name"], advice: .notOffered(procName)),
        Setting(name: "default_proc_name", cli: [], advice: .notOffered(procName)),
        Setting(name: "pythonpath", cli: ["--pythonpath"], advice: .flag("--pythonpath")),
        Setting(name: "paste", cli: ["--paste", "--paster"], advice: .notOffered(paste)),
        Setting(name: "raw_paste_global_conf", cli: ["--paste-global"], advice: .notOffered(paste)),
        Setting(name: "proxy_protocol", cli: ["--proxy-protocol"], advice: .notOffered(proxyProtocol)),
        Setting(name: "proxy_allow_ips", cli: ["--proxy-allow-from"], advice: .notOffered(proxyProtocol)),
        Setting(name: "protocol", cli: ["--protocol"], advice: .notOffered(protocolPrefix)),
        Setting(name: "uwsgi_allow_ips", cli: ["--uwsgi-allow-from"], advice: .notOffered(protocolPrefix)),
        Setting(name: "keyfile", cli: ["--keyfile"], advice: .notOffered(tls)),
        Setting(name: "certfile", cli: ["--certfile"], advice: .notOffered(tls)),
        Setting(name: "ssl_version", cli: ["--ssl-version"], advice: .notOffered(tls)),
        Setting(name: "cert_reqs", cli: ["--cert-reqs"], advice: .notOffered(tls)),
        Setting(name: "ca_certs", cli: ["--ca-certs"], advice: .notOffered(tls)),
        Setting(name: "suppress_ragged_eofs", cli: ["--suppress-ragged-eofs"], advice: .notOffered(tls)),
        Setting(name: "do_handshake_on_connect", cli: ["--do-handshake-on-connect"], advice: .notOffered(tls)),
        Setting(name: "ciphers", cli: ["--ciphers"], advice: .notOffered(tls)),
        Setting(name: "ssl_context", cli: [], advice: .notOffered(tls)),
        Setting(name: "http_protocols", cli: ["--http-protocols"], advice: .notOffered(http2)),
        Setting(name: "http2_cleartext", cli: ["--http2-cleartext"], advice: .notOffered(http2)),
        Setting(name: "http2_max_concurrent_streams", cli: ["--http2-max-concurrent-streams"], advice: .notOffered(http2)),
        Setting(name: "http2_initial_window_size", cli: ["--http2-initial-window-size"], advice: .notOffered(http2)),
        Setting(name: "http2_max_frame_size", cli: ["--http2-max-frame-size"], advice: .notOffered(http2)),
        Setting(name: "http2_max_header_list_size", cli: ["--http2-max-header-list-size"], advice: .notOffered(http2)),
        Setting(name: "permit_obsolete_folding", cli: ["--permit-obsolete-folding"], advice: .notOffered(parser)),
        Setting(name: "strip_header_spaces", cli: ["--strip-header-spaces"], advice: .notOffered(parser)),
        Setting(name: "permit_unconventional_http_method", cli: ["--permit-unconventional-http-method"], advice: .notOffered(parser)),
        Setting(name: "permit_unconventional_http_version", cli: ["--permit-unconventional-http-version"], advice: .notOffered(parser)),
        Setting(name: "casefold_http_method", cli: ["--casefold-http-method"], advice: .notOffered(parser)),
        Setting(name: "http_parser", cli: ["--http-parser"], advice: .notOffered(parser)),
        Setting(name: "forwarder_headers", cli: ["--forwarder-headers"], advice: .notOffered(forwarderHeaders)),
        Setting(name: "header_map", cli: ["--header-map"], advice: .notOffered(forwarderHeaders)),
        Setting(name: "asgi_loop", cli: ["--asgi-loop"], advice: .notOffered(asgi)),
        Setting(name: "asgi_lifespan", cli: ["--asgi-lifespan"], advice: .notOffered(asgi)),
        Setting(name: "asgi_disconnect_grace_period", cli: ["--asgi-disconnect-grace-period"], advice: .notOffered(asgi)),
        Setting(name: "root_path", cli: ["--root-path"], advice: .notOffered(asgi)),
        Setting(name: "dirty_apps", cli: ["--dirty-app"], advice: .notOffered(dirty)),
        Setting(name: "dirty_workers", cli: ["--dirty-workers"], advice: .notOffered(dirty)),
        Setting(name: "dirty_timeout", cli: ["--dirty-timeout"], advice: .notOffered(dirty)),
        Setting(name: "dirty_threads", cli: ["--dirty-threads"], advice: .notOffered(dirty)),
        Setting(name: "dirty_graceful_timeout", cli: ["--dirty-graceful-timeout"], advice: .notOffered(dirty)),
        Setting(name: "control_socket", cli: ["--control-socket"], advice: .notOffered(control)),
        Setting(name: "control_socket_mode", cli: ["--control-socket-mode"], advice: .notOffered(control)),
        Setting(name: "control_socket_disable", cli: ["--no-control-socket"], advice: .notOffered(control)),
    ] + ["on_starting", "on_reload", "when_ready", "pre_fork", "post_fork", "post_worker_init", "worker_int",
         "worker_abort", "pre_exec", "pre_request", "post_request", "child_exit", "worker_exit",
         "nworkers_changed", "on_exit"].map { Setting(name: $0, cli: [], advice: .notOffered(hooks)) }
      + ["on_dirty_starting", "dirty_post_fork", "dirty_worker_init", "dirty_worker_exit"].map {
          Setting(name: $0, cli: [], advice: .notOffered(dirty)) }

    /// Short options of Gunicorn that take a value, which may be attached ("-kgevent").
    static let shortWithValue: Set<String> = ["-k", "-m", "-n"]

    /// The first Gunicorn option in `args` that gatewayd does not offer, as
    /// its error message ("--preload: Gunicorn's option is not offered: ..."), or nil.
    static func refusal<S: Sequence>(_ args: S) -> String? where S.Element == String {
        for arg in args {
            if arg == "--" { return nil }
            guard arg.hasPrefix("-"), arg.count > 1 else { continue }
            let name: String
            if arg.hasPrefix("--") {
                name = String(arg.prefix { $0 != "=" })
            } else {
                let short = String(arg.prefix(2))
                guard arg.count == 2 || shortWithValue.contains(short) else { continue }
                name = short
            }
            for s in settings where s.cli.contains(name) {
                if case .notOffered(let reason) = s.advice {
                    return "\(name): Gunicorn's option is not offered: \(reason)"
                }
            }
        }
        return nil
    }

    /// The Gunicorn settings a gunicorn.conf.py assigns or defines (read as
    /// text: top-level "name = ..." and "def name(" lines; the file is never
    /// run), each with what to use instead, in the file's order.
    static func settings(inConfFile text: String) -> [(name: String, advice: String)] {
        var seen: Set<String> = []
        var out: [(String, String)] = []
        for raw in text.split(separator: "\n", omittingEmptySubsequences: false) {
            var line = Substring(raw)
            if line.hasPrefix("def ") { line = line.dropFirst(4) }
            let name = String(line.prefix { $0 == "_" || $0.isLetter || $0.isNumber })
            guard !name.isEmpty, name.first?.isNumber == false else { continue }
            let rest = line.dropFirst(name.count).drop { $0 == " " || $0 == "\t" }
            guard (raw.hasPrefix("def ") && rest.hasPrefix("(")) || (rest.hasPrefix("=") && !rest.hasPrefix("=="))
                    || rest.hasPrefix(":") else { continue }
            guard let s = settings.first(where: { $0.name == name }), seen.insert(name).inserted else { continue }
            switch s.advice {
            case .flag(let f): out.append((name, f))
            case .key(let k): out.append((name, "the gatewayd.conf key \(k) (-c FILE)"))
            case .notOffered: out.append((name, "not offered (docs/wsgi.md)"))
            }
        }
        return out
    }

    /// The warning for a gunicorn.conf.py in the working directory, or nil
    /// when it holds no Gunicorn setting.
    static func confFileWarning(path: String, text: String) -> String? {
        let found = settings(inConfFile: text)
        guard !found.isEmpty else { return nil }
        return "\(path) is not read (gatewayd never runs Python in the master; its settings are flags or gatewayd.conf keys): "
            + found.map { "\($0.name): \($0.advice)" }.joined(separator: "; ")
    }
}

/// Words of a command line as a POSIX shell splits them (Python's
/// shlex.split, which Gunicorn uses for GUNICORN_CMD_ARGS): blanks
/// separate, '...' is literal, "..." keeps \" \\ \$ \` escapes, \x outside
/// quotes is x. nil for an unbalanced quote.
enum ShellWords {
    static func split(_ text: String) -> [String]? {
        var words: [String] = []
        var word = ""
        var inWord = false
        var it = text.makeIterator()
        while let ch = it.next() {
            switch ch {
            case " ", "\t", "\n":
                if inWord { words.append(word); word = ""; inWord = false }
            case "'":
                inWord = true
                var closed = false
                while let c = it.next() {
                    if c == "'" { closed = true; break }
                    word.append(c)
                }
                if !closed { return nil }
            case "\"":
                inWord = true
                var closed = false
                while let c = it.next() {
                    if c == "\"" { closed = true; break }
                    if c == "\\" {
                        guard let n = it.next() else { return nil }
                        if !"\"\\$`".contains(n) { word.append("\\") }
                        word.append(n)
                    } else {
                        word.append(c)
                    }
                }
                if !closed { return nil }
            case "\\":
                inWord = true
                guard let n = it.next() else { return nil }
                word.append(n)
            default:
                inWord = true
                word.append(ch)
            }
        }
        if inWord { words.append(word) }
        return words
    }
}
