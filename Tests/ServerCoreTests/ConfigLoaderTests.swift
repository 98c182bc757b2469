import Testing
@testable import ServerCore

@Suite struct ConfigLoaderTests {
    /// etc/gatewayd.conf, found from this file: Tests/ServerCoreTests/ -> repo root.
    static let shippedConfig: String = {
        var parts = String(#filePath).split(separator: "/", omittingEmptySubsequences: false)
        parts.removeLast(3)
        return parts.joined(separator: "/") + "/etc/gatewayd.conf"
    }()

    func parse(_ text: String, file: String = "test.conf") throws -> Config {
        try ConfigLoader(file: file, text: text).parse()
    }

    /// The error parsing `text` throws, or nil (recorded as an issue).
    func failure(_ text: String, file: String = "test.conf", sourceLocation: SourceLocation = #_sourceLocation) -> ConfigError? {
        do {
            let c = try parse(text, file: file)
            Issue.record("expected an error, parsed \(c)", sourceLocation: sourceLocation)
            return nil
        } catch let e as ConfigError {
            return e
        } catch {
            Issue.record("expected a ConfigError, got \(error)", sourceLocation: sourceLocation)
            return nil
        }
    }

    // MARK: defaults and the shipped file

    @Test func defaults() throws {
        let c = Config()
        #expect(c.bind == ["127.0.0.1:8000"])
        #expect(c.workers == 2)
        #expect(c.app == "")
        #expect(c.appArgs.isEmpty)
        #expect(c.timeout == 30 && c.gracefulTimeout == 30 && c.keepaliveTimeout == 5)
        #expect(c.bootTimeout == 30 && c.headerTimeout == 10 && c.bodyTimeout == 30)
        #expect(c.maxRequests == 0 && c.maxRequestsJitter == 0)
        #expect(c.maxWorkerMemory == 0 && c.maxWorkerMemoryHard == 0)
        #expect(c.pidfile == "" && c.accessLog == "" && c.errorLog == "-" && c.logLevel == .info)
        #expect(c.accessLogFormat == AccessLogFormat.combined)
        #expect(c.backlog == 2048 && c.workerConnections == 1000 && c.unixSocketMode == 0o660)
        #expect(c.limitRequestLine == 8190 && c.limitRequestFields == 100 && c.limitRequestFieldSize == 8190)
        #expect(c.maxBodySize == 0)
        #expect(c.user == "" && c.group == "" && !c.allowRoot)
        #expect(c.forwardedAllowIPs == ["127.0.0.1", "::1", "unix"])
        #expect(c.secureSchemeHeaders.map { "\($0.name)=\($0.value)" }
                == ["X-Forwarded-Proto=https", "X-Forwarded-Protocol=ssl", "X-Forwarded-Ssl=on"])
        #expect(c.reloadStrategy == .generation)

        // A file with only the required key gives the defaults.
        var expected = Config()
        expected.app = "app.so"
        #expect(try parse("app = \"app.so\"\n") == expected)

        let limits = HTTPLimits(Config())
        #expect(limits.requestLine == 8190 && limits.fields == 100 && limits.fieldSize == 8190 && limits.maxBody == 0)
    }

    @Test func shippedFileLoads() throws {
        let c = try ConfigLoader.load(path: Self.shippedConfig)
        // "Every key is shown with its default value, except bind and app".
        var expected = Config()
        expected.app = "build/apps/hello.so"
        expected.bind = c.bind
        #expect(c == expected)
        #expect(c.bind == ["127.0.0.1:8000"])
    }

    /// Every `key = value` line of the shipped file parses on its own, and the
    /// file shows every key the loader knows.
    /// Issue 25: admin_allow takes addresses and networks only.
    @Test func adminAllowTakesNetworks() throws {
        let c = try parse("app = \"x.so\"\nadmin_allow = [\"10.0.0.0/8\", \"::1\", \"127.0.0.1\"]\n")
        #expect(c.adminAllow == ["10.0.0.0/8", "::1", "127.0.0.1"])
        #expect(throws: (any Error).self) { try parse("app = \"x.so\"\nadmin_allow = [\"example.org\"]\n") }
        #expect(throws: (any Error).self) { try parse("app = \"x.so\"\nlimit_request_head = 100\n") }
        #expect(try parse("app = \"x.so\"\n").limitRequestHead == 32768)
    }

    @Test func everyShippedKeyParses() throws {
        let text = try FileReader.readText(Self.shippedConfig)
        var keys: [String] = []
        for line in text.split(separator: "\n") {
            guard let first = line.first, first.isLetter, !line.hasPrefix("[") else { continue }
            let key = String(line.prefix { $0 != " " && $0 != "=" })
            keys.append(key)
            let single = key == "app" ? String(line) : "app = \"x.so\"\n" + line
            do {
                _ = try parse(single + "\n")
            } catch {
                Issue.record("key \(key): \(error)")
            }
        }
        let known = ["bind", "workers", "app", "timeout", "graceful_timeout", "keepalive_timeout",
                     "boot_timeout", "header_timeout", "body_timeout", "max_requests", "max_requests_jitter",
                     "max_worker_memory", "max_worker_memory_hard", "pidfile", "access_log", "access_log_format",
                     "error_log", "log_level", "log_format", "backlog", "worker_connections", "unix_socket_mode", "admin_bind", "admin_socket_mode",
                     "limit_request_line", "limit_request_fields", "limit_request_field_size", "max_body_size",
                     "body_buffer_size", "response_buffer_size",
                     "user", "group", "forwarded_allow_ips", "secure_scheme_headers", "reload_strategy", "allow_root",
                     "lingering_time", "lingering_timeout", "env", "script_name", "reload", "capture_output",
                     "max_workers", "idle_worker_timeout", "max_queue_wait", "drain_delay",
                     "limit_request_head", "admin_allow",
                     "sandbox", "sandbox_allow_exec", "sandbox_allow_bind", "sandbox_read_paths", "sandbox_write_paths"]
        #expect(Set(keys) == Set(known), "missing: \(Set(known).subtracting(keys)), extra: \(Set(keys).subtracting(known))")
        #expect(keys.count == Set(keys).count, "a key appears twice")
        #expect(text.contains("[app_args]"))
    }

    @Test func everyKeyWithAValue() throws {
        let text = """
        bind = ["0.0.0.0:80", "[::]:8080", "unix:/run/g.sock", "fd:web"]
        workers = 8
        app = "/srv/app.so"
        timeout = 0
        graceful_timeout = 5
        keepalive_timeout = 2
        boot_timeout = 60
        header_timeout = 3
        body_timeout = 4
        max_requests = 1000
        max_requests_jitter = 50
        max_worker_memory = 200
        max_worker_memory_hard = 300
        pidfile = "/run/g.pid"
        access_log = "-"
        access_log_format = "common"
        error_log = "/var/log/g.log"
        log_level = "debug"
        log_format = "json"
        backlog = 128
        worker_connections = 10
        unix_socket_mode = "0600"
        limit_request_line = 4094
        limit_request_fields = 50
        limit_request_field_size = 1024
        max_body_size = 1048576
        user = "www-data"
        group = "www-data"
        forwarded_allow_ips = "*"
        reload_strategy = "rolling"
        allow_root = true
        """
        let c = try parse(text)
        #expect(c.bind == ["0.0.0.0:80", "[::]:8080", "unix:/run/g.sock", "fd:web"])
        #expect(c.workers == 8 && c.app == "/srv/app.so" && c.timeout == 0 && c.gracefulTimeout == 5)
        #expect(c.keepaliveTimeout == 2 && c.bootTimeout == 60 && c.headerTimeout == 3 && c.bodyTimeout == 4)
        #expect(c.maxRequests == 1000 && c.maxRequestsJitter == 50)
        #expect(c.maxWorkerMemory == 200 && c.maxWorkerMemoryHard == 300)
        #expect(c.pidfile == "/run/g.pid" && c.accessLog == "-" && c.accessLogFormat == AccessLogFormat.common)
        #expect(c.errorLog == "/var/log/g.log" && c.logLevel == .debug && c.logFormat == .json)
        #expect(c.backlog == 128 && c.workerConnections == 10 && c.unixSocketMode == 0o600)
        #expect(c.limitRequestLine == 4094 && c.limitRequestFields == 50 && c.limitRequestFieldSize == 1024)
        #expect(c.maxBodySize == 1_048_576)
        #expect(c.user == "www-data" && c.group == "www-data" && c.forwardedAllowIPs == ["*"])
        #expect(c.reloadStrategy == .rolling && c.allowRoot)
        let limits = HTTPLimits(c)
        #expect(limits.requestLine == 4094 && limits.fields == 50 && limits.fieldSize == 1024 && limits.maxBody == 1_048_576)
    }

    @Test func bufferSizes() throws {
        let c = try parse("app = \"x.so\"\nbody_buffer_size = 1048576\nresponse_buffer_size = 0\n")
        #expect(c.bodyBufferSize == 1 << 20 && c.responseBufferSize == 0)
        #expect(Config().bodyBufferSize == 64 << 10 && Config().responseBufferSize == 64 << 10)
        #expect(throws: ConfigError.self) { try parse("app = \"x.so\"\nbody_buffer_size = 16777216\n") }
        #expect(throws: ConfigError.self) { try parse("app = \"x.so\"\nresponse_buffer_size = -1\n") }
    }

    @Test func customAccessLogFormat() throws {
        let c = try parse("app = \"a.so\"\naccess_log_format = \"$remote_addr $status $request_time\"\n")
        #expect(c.accessLogFormat == "$remote_addr $status $request_time")
        let e = failure("app = \"a.so\"\naccess_log_format = \"$remote_addr $nonsense\"\n")
        #expect(e?.key == "access_log_format" && e?.line == 2)
        #expect(e?.message.contains("nonsense") == true)
    }

    @Test func unixSocketModeForms() throws {
        #expect(try parse("app = \"a.so\"\nunix_socket_mode = \"0666\"\n").unixSocketMode == 0o666)
        #expect(try parse("app = \"a.so\"\nunix_socket_mode = 0o640\n").unixSocketMode == 0o640)
        let e = failure("app = \"a.so\"\nunix_socket_mode = \"0999\"\n")
        #expect(e?.key == "unix_socket_mode" && e?.line == 2)
    }

    @Test func environmentScriptNameAndDevelopmentKeys() throws {
        let c = try parse("app = \"a.so\"\nenv = [\"A=1\", \"B=x=y\"]\nscript_name = \"/api/\"\ncapture_output = true\nreload = true\n")
        #expect(c.env.map { "\($0.name)=\($0.value)" } == ["A=1", "B=x=y"])
        #expect(c.scriptName == "/api")
        #expect(c.captureOutput && c.reload)
        let t = try parse("app = \"a.so\"\n[env]\nZ = \"last\"\nA = 1\n")
        #expect(t.env.map { "\($0.name)=\($0.value)" } == ["A=1", "Z=last"])
        #expect(failure("app = \"a.so\"\nenv = [\"NOEQUALS\"]\n")?.key == "env")
        #expect(failure("app = \"a.so\"\nenv = [\"1BAD=x\"]\n")?.key == "env")
        let e = failure("app = \"a.so\"\nscript_name = \"api\"\n")
        #expect(e?.key == "script_name" && e?.line == 2)
        #expect(try parse("app = \"a.so\"\nscript_name = \"/\"\n").scriptName == "")
    }

    @Test func defaultsWithoutAFile() throws {
        let c = try ConfigLoader.defaults { $0.app = "x.so"; $0.workers = 3 }
        #expect(c.workers == 3 && c.bind == ["127.0.0.1:8000"])
        #expect(throws: ConfigError.self) { try ConfigLoader.defaults() }
    }

    // MARK: errors name the file, the line and the key

    @Test func adminBind() throws {
        #expect(Config().adminBind.isEmpty && Config().adminSocketMode == 0o600)
        let c = try parse("app = \"a.so\"\nadmin_bind = [\"127.0.0.1:9100\", \"unix:/run/a.sock\"]\nadmin_socket_mode = \"0660\"\n")
        #expect(c.adminBind == ["127.0.0.1:9100", "unix:/run/a.sock"] && c.adminSocketMode == 0o660)
        #expect(failure("app = \"a.so\"\nadmin_bind = [\"fd:admin\"]\n")?.key == "admin_bind")
        #expect(failure("app = \"a.so\"\nadmin_bind = [\"unix:relative.sock\"]\n")?.key == "admin_bind")
    }

    @Test func threadsTimesWorkersFitTheScoreboard() throws {
        // max(workers, max_workers) x threads app threads, one scoreboard slot each
        let c = try parse("app = \"x.so\"\nworkers = 16\nmax_workers = 1024\nthreads = 4\n")
        #expect(c.threads == 4 && Config.scoreboardSlots == 4096)
        let e = failure("app = \"x.so\"\nworkers = 16\nmax_workers = 1024\nthreads = 5\n")
        #expect(e?.key == "threads")
        #expect(e?.message.contains("5120 app threads, above the scoreboard's 4096 slots") == true, "\(e?.message ?? "")")
        #expect(e?.message.contains("max_workers") == true)
        #expect(failure("app = \"x.so\"\nworkers = 600\nthreads = 8\n")?.key == "threads")
    }

    @Test func capacityKeys() throws {
        let c = try parse("app = \"x.so\"\nworkers = 2\nmax_workers = 6\nidle_worker_timeout = 30\nmax_queue_wait = 0.5\ndrain_delay = 5\n")
        #expect(c.maxWorkers == 6 && c.idleWorkerTimeout == 30 && c.maxQueueWait == 0.5 && c.drainDelay == 5)
        let d = Config()
        #expect(d.maxWorkers == 0 && d.idleWorkerTimeout == 10 && d.maxQueueWait == 0 && d.drainDelay == 0)
        #expect(failure("app = \"x.so\"\nworkers = 4\nmax_workers = 2\n")?.message.contains("below workers (4)") == true)
        #expect(failure("app = \"x.so\"\nmax_queue_wait = -1\n")?.message.contains("between 0 and 3600 seconds") == true)
        #expect(failure("app = \"x.so\"\ndrain_delay = \"5s\"\n")?.message.contains("expected seconds") == true)
        #expect(failure("app = \"x.so\"\nidle_worker_timeout = 0\n")?.message.contains("at least 1") == true)
    }

    @Test func unknownKey() {
        let e = failure("app = \"a.so\"\n\n# a comment\nworkerz = 3\n", file: "/etc/gatewayd.conf")
        #expect(e?.file == "/etc/gatewayd.conf")
        #expect(e?.line == 4)
        #expect(e?.key == "workerz")
        #expect(e?.message.contains("unknown") == true)
        #expect(e?.description.hasPrefix("/etc/gatewayd.conf:4: key 'workerz'") == true)
    }

    @Test func unknownKeyIndented() {
        let e = failure("app = \"a.so\"\n   timeout_seconds = 3\n")
        #expect(e?.line == 2 && e?.key == "timeout_seconds")
    }

    @Test func unknownKeyWithAPrefixOfAKnownOne() {
        // "worker" must not be found on the "workers" line.
        let e = failure("app = \"a.so\"\nworkers = 2\nworker = 3\n")
        #expect(e?.line == 3 && e?.key == "worker")
    }

    @Test func unknownTable() {
        let e = failure("app = \"a.so\"\n\n[server]\nworkers = 2\n")
        #expect(e?.key == "server")
        #expect(e?.line == 3)
    }

    @Test func wrongType() {
        let e = failure("app = \"a.so\"\nworkers = \"many\"\n")
        #expect(e?.line == 2)
        #expect(e?.key == "workers")
        #expect(e?.message.contains("integer") == true)
        #expect(e?.description.contains("test.conf:2") == true)
    }

    @Test func secureSchemeHeaders() throws {
        let inline = try parse("app = \"a.so\"\nsecure_scheme_headers = { \"X-Scheme\" = \"https\", Front-End-Https = \"on\" }\n")
        #expect(inline.secureSchemeHeaders.map { "\($0.name)=\($0.value)" } == ["Front-End-Https=on", "X-Scheme=https"])
        let table = try parse("app = \"a.so\"\n[secure_scheme_headers]\nX-Forwarded-Proto = \"https\"\n")
        #expect(table.secureSchemeHeaders.map { "\($0.name)=\($0.value)" } == ["X-Forwarded-Proto=https"])
        // An empty table believes no header.
        #expect(try parse("app = \"a.so\"\nsecure_scheme_headers = {}\n").secureSchemeHeaders.isEmpty)
        #expect(inline != table)
    }

    @Test func forwardedAllowIPsTakesAddresses() throws {
        let c = try parse("app = \"a.so\"\nforwarded_allow_ips = [\"10.0.0.2\", \"2001:db8::1\", \"::ffff:10.0.0.3\", \"unix\"]\n")
        #expect(c.forwardedAllowIPs == ["10.0.0.2", "2001:db8::1", "::ffff:10.0.0.3", "unix"])
        #expect(try parse("app = \"a.so\"\nforwarded_allow_ips = []\n").forwardedAllowIPs.isEmpty)
    }

    @Test(arguments: [
        ("allow_root = \"yes\"", "allow_root"),
        ("bind = 8000", "bind"),
        ("bind = [\"127.0.0.1:1\", 2]", "bind"),
        ("timeout = 1.5", "timeout"),
        ("log_level = 3", "log_level"),
        ("log_format = \"xml\"", "log_format"),
        ("log_format = 1", "log_format"),
        ("pidfile = false", "pidfile"),
        ("forwarded_allow_ips = { a = 1 }", "forwarded_allow_ips"),
        ("secure_scheme_headers = \"X-Forwarded-Proto\"", "secure_scheme_headers"),
        ("secure_scheme_headers = [\"X-Forwarded-Proto\", \"https\"]", "secure_scheme_headers"),
        ("secure_scheme_headers = { \"Bad Name\" = \"https\" }", "secure_scheme_headers"),
        ("secure_scheme_headers = { \"X:Y\" = \"https\" }", "secure_scheme_headers"),
        ("secure_scheme_headers = { X-Scheme = 1 }", "secure_scheme_headers.X-Scheme"),
        ("secure_scheme_headers = { X-Scheme = \"\" }", "secure_scheme_headers.X-Scheme"),
        ("secure_scheme_headers = { X-Scheme = \"a b\" }", "secure_scheme_headers.X-Scheme"),
        ("app_args = 3", "app_args"),
    ])
    func otherWrongTypes(_ line: String, _ key: String) {
        let e = failure("app = \"a.so\"\n" + line + "\n")
        #expect(e?.key == key, "\(line)")
        #expect(e?.line == 2, "\(line)")
    }

    @Test(arguments: [
        ("workers = 0", "workers"),
        ("workers = -1", "workers"),
        ("workers = 100000", "workers"),
        ("backlog = 0", "backlog"),
        ("worker_connections = 0", "worker_connections"),
        ("limit_request_line = 10", "limit_request_line"),
        ("limit_request_fields = 0", "limit_request_fields"),
        ("limit_request_field_size = 2", "limit_request_field_size"),
        ("max_body_size = -1", "max_body_size"),
        ("timeout = -5", "timeout"),
        ("boot_timeout = 0", "boot_timeout"),
        ("header_timeout = 0", "header_timeout"),
        ("body_timeout = 0", "body_timeout"),
        ("log_level = \"verbose\"", "log_level"),
        ("reload_strategy = \"fast\"", "reload_strategy"),
        ("forwarded_allow_ips = [\"127.0.0.1\", \"localhost\"]", "forwarded_allow_ips"),
        ("forwarded_allow_ips = [\"10.0.0.1/8\"]", "forwarded_allow_ips"),
        ("forwarded_allow_ips = [\"127.0.0.1:80\"]", "forwarded_allow_ips"),
        ("bind = [\"nonsense\"]", "bind"),
        ("bind = \"nonsense\"", "bind"),
        ("bind = []", "bind"),
        ("bind = [\"unix:relative.sock\"]", "bind"),
        ("bind = [\"127.0.0.1:99999\"]", "bind"),
        ("bind = [\"fd:\"]", "bind"),
        ("bind = [\"[::1:80\"]", "bind"),
    ])
    func impossibleValues(_ line: String, _ key: String) {
        let e = failure("app = \"a.so\"\n" + line + "\n")
        #expect(e?.key == key, "\(line)")
        #expect(e?.line == 2, "\(line): \(e?.description ?? "")")
    }

    @Test func memoryAboveTheHardCap() {
        let e = failure("app = \"a.so\"\nmax_worker_memory = 500\nmax_worker_memory_hard = 100\n")
        #expect(e?.key == "max_worker_memory")
        #expect(e?.line == 2)
        #expect(e?.message.contains("max_worker_memory_hard") == true)
        // Equal, or no hard cap: fine.
        #expect((try? parse("app = \"a.so\"\nmax_worker_memory = 100\nmax_worker_memory_hard = 100\n")) != nil)
        #expect((try? parse("app = \"a.so\"\nmax_worker_memory = 500\n")) != nil)
    }

    @Test func appIsRequired() {
        let e = failure("workers = 2\n")
        #expect(e?.key == "app")
        #expect(e?.message.contains("required") == true)
    }

    // MARK: app_args

    @Test func appArgsAsATable() throws {
        let c = try parse("""
        app = "a.so"

        [app_args]
        greeting = "Hello"
        count = 3
        ratio = 0.5
        debug = true
        names = ["a", "b", 3]
        """)
        let args = Dictionary(uniqueKeysWithValues: c.appArgs.map { ($0.name, $0.value) })
        #expect(args == ["greeting": "Hello", "count": "3", "ratio": "0.5", "debug": "true", "names": "a,b,3"])
    }

    /// The order init sees (docs/gateway-interface.md, gateway.h): a table's
    /// names sorted, whatever the file's order; an array's elements in order.
    @Test func appArgsOrder() throws {
        let table = try parse("app = \"a.so\"\n[app_args]\nzeta = 1\nalpha = 2\nMid = 3\nbeta = 4\n")
        #expect(table.appArgs.map { $0.name } == ["Mid", "alpha", "beta", "zeta"])
        let inline = try parse("app = \"a.so\"\napp_args = { zeta = 1, alpha = 2 }\n")
        #expect(inline.appArgs.map { $0.name } == ["alpha", "zeta"])
        let array = try parse("app = \"a.so\"\napp_args = [" + (0..<12).map { "\"v\($0)\"" }.joined(separator: ", ") + "]\n")
        #expect(array.appArgs.map { $0.name } == (0..<12).map(String.init))
        #expect(array.appArgs.map { $0.value } == (0..<12).map { "v\($0)" })
    }

    @Test func appArgsAsAnInlineTable() throws {
        let c = try parse("app = \"a.so\"\napp_args = { greeting = \"Hi\" }\n")
        #expect(c.appArgs.map { $0.name } == ["greeting"])
        #expect(c.appArgs.map { $0.value } == ["Hi"])
    }

    @Test func appArgsAsDottedKeys() throws {
        let c = try parse("app = \"a.so\"\napp_args.greeting = \"Hi\"\n")
        #expect(c.appArgs.map { $0.name } == ["greeting"])
    }

    @Test func appArgsAsAnArray() throws {
        let c = try parse("app = \"a.so\"\napp_args = [\"--verbose\", 3, true, \"x y\"]\n")
        #expect(c.appArgs.map { $0.name } == ["0", "1", "2", "3"])
        #expect(c.appArgs.map { $0.value } == ["--verbose", "3", "true", "x y"])
    }

    @Test func appArgsOfANestedTable() {
        let e = failure("app = \"a.so\"\n\n[app_args]\nok = 1\nbad = { x = 1 }\n")
        #expect(e?.key == "app_args.bad")
        #expect(e?.line == 5)
    }

    @Test func emptyAppArgs() throws {
        #expect(try parse("app = \"a.so\"\n[app_args]\n").appArgs.isEmpty)
        #expect(try parse("app = \"a.so\"\napp_args = []\n").appArgs.isEmpty)
    }

    // MARK: invalid TOML

    @Test(arguments: [
        ("app = \"a.so\"\nworkers = \n", 2),
        ("app = \"a.so\"\n\n\nworkers = 2 3\n", 4),
        ("app = \"a.so\"\nbind = [\"a\"\n", 2),
        ("app = \"a.so\nworkers = 2\n", 1),
        ("app = \"a.so\"\nworkers = 2\nworkers = 3\n", 3),
        ("app = \"a.so\"\n[app_args]\nx = 1\n[app_args]\n", 4),
        ("= 3\n", 1),
    ])
    func invalidTOML(_ text: String, _ line: Int) {
        let e = failure(text, file: "bad.conf")
        #expect(e?.file == "bad.conf")
        #expect(e?.line == line, "\(text.debugDescription): \(e?.description ?? "")")
        #expect(e?.key == "")
        #expect(e?.message.contains("TOML") == true)
        #expect(e?.description.hasPrefix("bad.conf:\(line): ") == true)
    }

    @Test func missingFile() {
        do {
            _ = try ConfigLoader.load(path: "/nonexistent/gatewayd.conf")
            Issue.record("loaded a missing file")
        } catch let e as ConfigError {
            #expect(e.file == "/nonexistent/gatewayd.conf")
            #expect(e.line == 0)
            #expect(e.description.hasPrefix("/nonexistent/gatewayd.conf: "))
        } catch {
            Issue.record("unexpected \(error)")
        }
    }

    @Test func overridesApplyBeforeValidation() throws {
        let c = try ConfigLoader(file: "t.conf", text: "app = \"a.so\"\n").parse { $0.workers = 5 }
        #expect(c.workers == 5)
        do {
            _ = try ConfigLoader(file: "t.conf", text: "app = \"a.so\"\n").parse { $0.workers = 0 }
            Issue.record("workers = 0 from an override was accepted")
        } catch let e as ConfigError {
            #expect(e.key == "workers")
        }
    }

    /// The error of parsing `text` with `override` (a flag) applied.
    func flagFailure(_ text: String, _ override: (inout Config) -> Void,
                     sourceLocation: SourceLocation = #_sourceLocation) -> ConfigError? {
        do {
            let c = try ConfigLoader(file: "h.conf", text: text).parse(overrides: override)
            Issue.record("expected an error, parsed \(c)", sourceLocation: sourceLocation)
        } catch let e as ConfigError {
            return e
        } catch {
            Issue.record("expected a ConfigError, got \(error)", sourceLocation: sourceLocation)
        }
        return nil
    }

    @Test(arguments: [
        ("timeout", "--timeout", \Config.timeout, -1, "must be at least 0, found -1"),
        ("graceful_timeout", "--graceful-timeout", \Config.gracefulTimeout, -1, "must be at least 0, found -1"),
        ("keepalive_timeout", "--keep-alive", \Config.keepaliveTimeout, -1, "must be at least 0, found -1"),
        ("max_requests", "--max-requests", \Config.maxRequests, -3, "must be at least 0, found -3"),
        ("max_requests_jitter", "--max-requests-jitter", \Config.maxRequestsJitter, -1, "must be at least 0, found -1"),
        ("workers", "--workers", \Config.workers, 0, "must be between 1 and 1024, found 0"),
        ("workers", "--workers", \Config.workers, 2000, "must be between 1 and 1024, found 2000"),
    ] as [(String, String, WritableKeyPath<Config, Int>, Int, String)])
    func aFlagIsCheckedByItsKeysRuleAndNamed(_ key: String, _ flag: String, _ path: WritableKeyPath<Config, Int>,
                                             _ value: Int, _ message: String) {
        let e = flagFailure("workers = 2\napp = \"a.so\"\n") { c in
            c[keyPath: path] = value
            c.flags[key] = flag
        }
        #expect(e?.description == "\(flag): \(message)")
        #expect(e?.key == key && e?.flag == flag)
    }

    @Test func aCrossKeyErrorCausedByAFlagNamesTheFlagAndTheKey() {
        let text = "workers = 2\nmax_workers = 4\napp = \"a.so\"\n"
        let e = flagFailure(text) { c in c.workers = 6; c.flags["workers"] = "--workers" }
        #expect(e?.description.hasPrefix("--workers: 6 is above max_workers (4, h.conf:2)") == true, "\(e?.description ?? "")")
        // Both from the file: located at max_workers, as before.
        let f = failure("workers = 6\nmax_workers = 4\napp = \"a.so\"\n")
        #expect(f?.line == 2 && f?.key == "max_workers" && f?.flag == "")
    }

    @Test(arguments: [
        ("bind = [\"ftp:127.0.0.1:1\"]", "bind", "unknown protocol 'ftp' (expected uwsgi:, fastcgi:, scgi: or none for HTTP)"),
        ("bind = [\"FASTCGI:127.0.0.1:27022\"]", "bind", "unknown protocol 'FASTCGI' (expected uwsgi:, fastcgi:, scgi: or none for HTTP; prefixes are lower case)"),
        ("bind = [\"SCGI:unix:/x.sock\"]", "bind", "unknown protocol 'SCGI'"),
        ("bind = [\"fastcgi:fastcgi:127.0.0.1:27023\"]", "bind", "two protocol prefixes"),
        ("admin_bind = [\"uwsgi:127.0.0.1:27012\"]", "admin_bind", "admin_bind serves HTTP only: no protocol prefix"),
        ("admin_bind = [\"scgi:unix:/x.sock\"]", "admin_bind", "admin_bind serves HTTP only: no protocol prefix"),
        ("admin_bind = [\"ftp:127.0.0.1:1\"]", "admin_bind", "unknown protocol 'ftp'"),
    ])
    func aBadProtocolPrefixIsRefusedWithItsKey(_ line: String, _ key: String, _ reason: String) {
        let e = failure("app = \"a.so\"\n" + line + "\n")
        #expect(e?.key == key && e?.line == 2, "\(line)")
        #expect(e?.message.contains(reason) == true, "\(e?.description ?? "")")
    }

    @Test func hostNamesAndUnbracketedIPv6StayValid() throws {
        let c = try parse("app = \"a.so\"\nbind = [\"localhost:8000\", \"uwsgi:localhost:3031\", \"::1:8001\", \"fastcgi:[::1]:9000\"]\n")
        #expect(c.bind.count == 4)
        #expect(try ListenAddress.parse("::1:8001") == .tcp(host: "::1", port: 8001))
    }

    @Test func aBadBindFlagIsNamedByTheFlag() {
        let e = flagFailure("app = \"a.so\"\nbind = [\"127.0.0.1:1\"]\n") { c in
            c.bind = ["ftp:127.0.0.1:1"]
            c.flags["bind"] = "--bind"
        }
        #expect(e?.description.hasPrefix("--bind: \"ftp:127.0.0.1:1\": unknown protocol 'ftp'") == true, "\(e?.description ?? "")")
    }

    @Test func absolutePaths() {
        #expect(ConfigLoader.absolute("/srv/a.so") == "/srv/a.so")
        #expect(ConfigLoader.absolute("") == "")
        let rel = ConfigLoader.absolute("build/a.so")
        #expect(rel.hasPrefix("/") && rel.hasSuffix("/build/a.so"))
    }
}
