import Testing
@testable import ServerCore

/// Gunicorn's conventions that reach the config (issue 24): PORT,
/// WEB_CONCURRENCY and FORWARDED_ALLOW_IPS as defaults under the file and
/// the flags, CIDR networks among the trusted proxies, log levels in any case.
@Suite struct GunicornConventionsTests {
    func parse(_ text: String = "app = \"a.so\"\n", env: [String: String],
               overrides: (inout Config) -> Void = { _ in }) throws -> Config {
        try ConfigLoader(file: "t.conf", text: text, environment: env).parse(overrides: overrides)
    }

    func failure(_ text: String = "app = \"a.so\"\n", env: [String: String] = [:],
                 sourceLocation: SourceLocation = #_sourceLocation) -> String? {
        do {
            let c = try parse(text, env: env)
            Issue.record("expected an error, parsed \(c.bind) \(c.workers) \(c.forwardedAllowIPs)", sourceLocation: sourceLocation)
        } catch {
            return "\(error)"
        }
        return nil
    }

    // MARK: PORT

    @Test func portBindsAllInterfacesWhenNoBindIsGiven() throws {
        #expect(try parse(env: ["PORT": "5000"]).bind == ["0.0.0.0:5000"])
        #expect(try parse(env: [:]).bind == ["127.0.0.1:8000"])
        #expect(try parse(env: ["PORT": ""]).bind == ["127.0.0.1:8000"])
    }

    @Test func theFileAndTheFlagsWinOverPort() throws {
        #expect(try parse("app = \"a.so\"\nbind = [\"127.0.0.1:9\"]\n", env: ["PORT": "5000"]).bind == ["127.0.0.1:9"])
        let c = try parse(env: ["PORT": "5000"]) { $0.bind = ["127.0.0.1:7"]; $0.flags["bind"] = "--bind" }
        #expect(c.bind == ["127.0.0.1:7"])
    }

    @Test func aBadPortIsNamed() {
        let e = failure(env: ["PORT": "http"])
        #expect(e?.hasPrefix("PORT: ") == true, "\(e ?? "")")
        let range = failure(env: ["PORT": "70000"])
        #expect(range?.hasPrefix("PORT: ") == true, "\(range ?? "")")
    }

    // MARK: WEB_CONCURRENCY

    @Test func webConcurrencyIsTheWorkerCount() throws {
        #expect(try parse(env: ["WEB_CONCURRENCY": "5"]).workers == 5)
        #expect(try parse("app = \"a.so\"\nworkers = 3\n", env: ["WEB_CONCURRENCY": "5"]).workers == 3)
        #expect(try parse(env: ["WEB_CONCURRENCY": "5"]) { $0.workers = 4; $0.flags["workers"] = "--workers" }.workers == 4)
    }

    @Test func aBadWebConcurrencyIsNamed() {
        #expect(failure(env: ["WEB_CONCURRENCY": "four"]) == "WEB_CONCURRENCY: expected an integer, found \"four\"")
        #expect(failure(env: ["WEB_CONCURRENCY": "0"]) == "WEB_CONCURRENCY: must be between 1 and 1024, found 0")
    }

    // MARK: FORWARDED_ALLOW_IPS

    @Test func forwardedAllowIPsReplacesTheDefaultTrust() throws {
        #expect(try parse(env: ["FORWARDED_ALLOW_IPS": "10.0.0.5"]).forwardedAllowIPs == ["10.0.0.5"])
        #expect(try parse(env: ["FORWARDED_ALLOW_IPS": " 10.0.0.5 , 10.0.0.6,"]).forwardedAllowIPs == ["10.0.0.5", "10.0.0.6"])
        // Gunicorn: an empty value trusts no proxy.
        #expect(try parse(env: ["FORWARDED_ALLOW_IPS": ""]).forwardedAllowIPs == [])
        #expect(try parse("app = \"a.so\"\nforwarded_allow_ips = [\"10.0.0.7\"]\n",
                          env: ["FORWARDED_ALLOW_IPS": "10.0.0.5"]).forwardedAllowIPs == ["10.0.0.7"])
        let e = failure(env: ["FORWARDED_ALLOW_IPS": "proxy.local"])
        #expect(e?.hasPrefix("FORWARDED_ALLOW_IPS: \"proxy.local\" is not") == true, "\(e ?? "")")
    }

    // MARK: CIDR

    @Test func networksAreTrusted() throws {
        let c = try parse("app = \"a.so\"\nforwarded_allow_ips = [\"10.0.0.0/8\", \"fd00::/8\", \"192.0.2.7/32\", \"unix\"]\n", env: [:])
        let policy = ForwardedHeaders.Policy(trusted: c.forwardedAllowIPs)
        #expect(policy.trusts(.ip(IPAddress("10.200.3.4")!)))
        #expect(policy.trusts(.ip(IPAddress("::ffff:10.1.1.1")!)))
        #expect(!policy.trusts(.ip(IPAddress("11.0.0.1")!)))
        #expect(policy.trusts(.ip(IPAddress("fd12::1")!)))
        #expect(!policy.trusts(.ip(IPAddress("fe80::1")!)))
        #expect(policy.trusts(.ip(IPAddress("192.0.2.7")!)))
        #expect(!policy.trusts(.ip(IPAddress("192.0.2.8")!)))
        #expect(!policy.trusts(.ip(IPAddress("127.0.0.1")!)))
        #expect(policy.trusts(.unix))
    }

    @Test func aNetworkWithHostBitsOrABadPrefixIsRefused() {
        let host = failure("app = \"a.so\"\nforwarded_allow_ips = [\"10.0.0.1/8\"]\n")
        #expect(host?.contains("\"10.0.0.1/8\" has host bits set (10.0.0.0/8?)") == true, "\(host ?? "")")
        let prefix = failure("app = \"a.so\"\nforwarded_allow_ips = [\"10.0.0.0/33\"]\n")
        #expect(prefix?.contains("\"10.0.0.0/33\"") == true, "\(prefix ?? "")")
        #expect(failure("app = \"a.so\"\nforwarded_allow_ips = [\"10.0.0.0/\"]\n") != nil)
        #expect(failure("app = \"a.so\"\nforwarded_allow_ips = [\"/8\"]\n") != nil)
    }

    @Test func forwardedForSkipsProxiesOfATrustedNetwork() {
        let policy = ForwardedHeaders.Policy(trusted: ["10.0.0.0/8"])
        let raw = Array("GET / HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: 203.0.113.9, 10.1.1.1, 10.2.2.2\r\n\r\n".utf8)
        var head = RequestHead(fieldCapacity: 100)
        let client: String? = raw.withUnsafeBufferPointer { p in
            let e = HeadParser.parse(p.baseAddress!, start: 0, end: raw.count, limits: HTTPLimits(), into: &head)
            precondition(e == nil)
            return ForwardedHeaders(head: head, buffer: p.baseAddress!, policy: policy, peer: .ip(IPAddress("10.3.3.3")!)).clientAddress
        }
        #expect(client == "203.0.113.9")
    }

    // MARK: log levels

    @Test func logLevelsInAnyCase() throws {
        #expect(try parse("app = \"a.so\"\nlog_level = \"WARNING\"\n", env: [:]).logLevel == .warning)
        #expect(try parse("app = \"a.so\"\nlog_level = \"Critical\"\n", env: [:]).logLevel == .error)
        #expect(Config.LogLevel(anyCase: "DEBUG") == .debug && Config.LogLevel(anyCase: "verbose") == nil)
        #expect(failure("app = \"a.so\"\nlog_level = \"loud\"\n") != nil)
    }
}
