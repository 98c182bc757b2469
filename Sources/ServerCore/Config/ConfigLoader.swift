import TOMLKit
#if canImport(Glibc)
import Glibc
#endif

/// Reads gatewayd.conf (TOML, parsed by TOMLKit) into a `Config`, rejecting
/// unknown keys, wrong types and impossible values with the file, line and key.
public struct ConfigLoader {
    public let file: String
    let text: String
    /// Gunicorn's environment variables (PORT, WEB_CONCURRENCY,
    /// FORWARDED_ALLOW_IPS): defaults under the file and the flags.
    let environment: [String: String]

    public init(file: String, text: String, environment: [String: String] = ConfigLoader.processEnvironment) {
        self.file = file
        self.text = text
        self.environment = environment
    }

    /// The environment variables that give keys their defaults (ConfigKey.all's).
    public static let environmentNames = ConfigKey.all.compactMap(\.environment)

    /// The variables of `environmentNames` that are set in this process.
    public static var processEnvironment: [String: String] {
        var env: [String: String] = [:]
        for name in environmentNames { env[name] = Sys.environment(name) }
        return env
    }

    /// Reads and parses `path`, applies command-line overrides, validates.
    public static func load(path: String, overrides: (inout Config) -> Void = { _ in }) throws -> Config {
        let text: String
        do {
            text = try FileReader.readText(path)
        } catch let error as SystemError {
            throw ConfigError(file: path, line: 0, key: "", message: "cannot read: \(error)")
        }
        return try ConfigLoader(file: path, text: text).parse(overrides: overrides)
    }

    /// No config file (`gatewayd myapp:app`): the defaults and the flags.
    public static func defaults(overrides: (inout Config) -> Void = { _ in }) throws -> Config {
        try ConfigLoader(file: "(command line)", text: "").parse(overrides: overrides)
    }

    /// A relative app path is taken from the working directory at start,
    /// so a reload after a chdir still finds it.
    /// The current directory ("/" if it cannot be told).
    public static func workingDirectory() -> String {
        var buf = [CChar](repeating: 0, count: 4096)
        return getcwd(&buf, 4096) != nil ? String(cString: buf) : "/"
    }

    public static func absolute(_ path: String) -> String {
        guard !path.hasPrefix("/"), !path.isEmpty else { return path }
        var buf = [CChar](repeating: 0, count: 4096)
        guard getcwd(&buf, 4096) != nil else { return path }
        return String(cString: buf) + "/" + path
    }

    public func parse(overrides: (inout Config) -> Void = { _ in }) throws -> Config {
        let table: TOMLTable
        do {
            table = try TOMLTable(string: text)
        } catch let error as TOMLParseError {
            throw ConfigError(file: file, line: error.source.begin.line, key: "",
                              message: "invalid TOML: \(error.description)")
        }
        var config = Config()
        try applyEnvironment(to: &config)
        for key in table.keys {
            guard let value = table[key] else { continue }
            // The file's key wins over the environment's default.
            config.flags[key] = nil
            try apply(key: key, value: value, to: &config)
        }
        overrides(&config)
        try applyScriptName(to: &config)
        try validate(config)
        return config
    }

    // MARK: the environment

    /// Gunicorn's environment variables, as Gunicorn reads them: defaults
    /// that the file and the flags override. Each records itself in `flags`,
    /// so that a bad value is named by the variable ("WEB_CONCURRENCY: ...").
    /// - PORT: bind = ["0.0.0.0:$PORT"] (empty: unset);
    /// - WEB_CONCURRENCY: workers (empty: unset);
    /// - FORWARDED_ALLOW_IPS: forwarded_allow_ips, comma-separated, all the
    ///   trust there is (empty: no proxy is trusted, as Gunicorn).
    /// SCRIPT_NAME is applied after the file and the flags (applyScriptName).
    func applyEnvironment(to c: inout Config) throws {
        if let port = environment["PORT"]?.trimmingSpaces(), !port.isEmpty {
            c.bind = ["0.0.0.0:\(port)"]
            c.flags["bind"] = "PORT"
        }
        if let text = environment["WEB_CONCURRENCY"]?.trimmingSpaces(), !text.isEmpty {
            guard let n = Int(text) else {
                throw ConfigError(file: file, line: 0, key: "workers", message: "expected an integer, found \"\(text)\"",
                                  flag: "WEB_CONCURRENCY")
            }
            c.workers = n
            c.flags["workers"] = "WEB_CONCURRENCY"
        }
        if let text = environment["FORWARDED_ALLOW_IPS"] {
            c.forwardedAllowIPs = Self.commaList(text)
            c.flags["forwarded_allow_ips"] = "FORWARDED_ALLOW_IPS"
        }
    }

    /// SCRIPT_NAME, as Gunicorn honours it: the prefix when script_name is
    /// empty after the file and the flags (the shipped file writes
    /// script_name = ""), checked by script_name's rule.
    func applyScriptName(to c: inout Config) throws {
        guard c.scriptName.isEmpty, let text = environment["SCRIPT_NAME"], !text.isEmpty else { return }
        do {
            c.scriptName = try scriptName("script_name", text)
        } catch let e as ConfigError {
            throw ConfigError(file: file, line: 0, key: "script_name", message: e.message, flag: "SCRIPT_NAME")
        }
        c.flags["script_name"] = "SCRIPT_NAME"
    }

    /// "a, b,," -> ["a", "b"]: Gunicorn's comma-separated lists.
    public static func commaList(_ text: String) -> [String] {
        text.split(separator: ",").map { String($0).trimmingSpaces() }.filter { !$0.isEmpty }
    }

    /// Why `text` is no log level ("must be one of ..."), or nil.
    public static func logLevelProblem(_ text: String) -> String? {
        guard Config.LogLevel(anyCase: text) == nil else { return nil }
        return "must be one of \"debug\", \"info\", \"warning\", \"error\" (any case; \"critical\" is \"error\"), found \"\(text)\""
    }

    // MARK: keys

    /// Reads the file's `key` by its entry in ConfigKey.all (its rule).
    func apply(key: String, value: TOMLValueConvertible, to c: inout Config) throws {
        guard let entry = ConfigKey.named[key] else { throw error(key, "unknown key") }
        try entry.read(self, key, value, &c)
    }

    /// The checks of the whole config, after the flags were applied: a value
    /// a flag set is checked by the same rule as its key, and named by the flag.
    func validate(_ c: Config) throws {
        func fail(_ key: String, _ message: String) -> ConfigError { error(key, message, in: c) }
        for key in c.flags.keys.sorted() {
            if let problem = ConfigKey.named[key]?.problem(c) { throw fail(key, problem) }
        }
        if c.app.isEmpty { throw fail("app", "is required: the path of the app shared object") }
        if c.workers < 1 { throw fail("workers", "must be at least 1, found \(c.workers)") }
        if c.bind.isEmpty { throw fail("bind", "needs at least one address") }
        // Every address is parsed as the listener will parse it, so that a bad
        // one is refused here with its key, not at bind time.
        for address in c.bind {
            do { _ = try ListenProtocol.parse(address) } catch let e as ListenAddress.ParseError {
                throw fail("bind", e.description)
            }
        }
        for address in c.adminBind {
            // A prefix is there when splitting it off leaves less.
            if let (_, rest) = try? ListenProtocol.split(address), rest != address {
                throw fail("admin_bind", "\"\(address)\": admin_bind serves HTTP only: no protocol prefix")
            }
            do { _ = try ListenAddress.parse(address) } catch let e as ListenAddress.ParseError {
                throw fail("admin_bind", e.description)
            }
            if address.hasPrefix("fd:") { throw fail("admin_bind", "\"\(address)\": the admin listener binds its own sockets") }
        }
        for entry in c.adminAllow where IPNetwork(entry) == nil {
            throw fail("admin_allow", "\"\(entry)\" is not an IP address or network (ADDRESS/PREFIX)")
        }
        // An entry that is no address would never match a peer: refuse it
        // rather than leave a proxy silently untrusted. Networks are taken
        // as Python's ipaddress.ip_network (Gunicorn's): no host bits set.
        for entry in c.forwardedAllowIPs where entry != "*" && entry != "unix" {
            switch IPNetwork.parse(entry) {
            case .success: continue
            case .failure(.notAnAddress):
                throw fail("forwarded_allow_ips", "\"\(entry)\" is not an IP address, a network (10.0.0.0/8), \"unix\" or \"*\" (no host names)")
            case .failure(.badPrefix(let max)):
                throw fail("forwarded_allow_ips", "\"\(entry)\": the prefix length is 0 to \(max)")
            case .failure(.hostBitsSet(let network)):
                throw fail("forwarded_allow_ips", "\"\(entry)\" has host bits set (\(network)?)")
            }
        }
        if c.maxWorkers > 0 && c.maxWorkers < c.workers {
            if let flag = c.flags["workers"], c.flags["max_workers"] == nil {
                throw ConfigError(file: file, line: 0, key: "workers", message:
                    "\(c.workers) is above max_workers (\(c.maxWorkers), \(location(of: "max_workers"))): max_workers is 0 (a fixed count) or at least workers",
                    flag: flag)
            }
            throw fail("max_workers", "is below workers (\(c.workers)\(c.flags["workers"].map { ", from \($0)" } ?? "")): 0 keeps the count fixed, otherwise at least workers")
        }
        // One scoreboard slot per app thread of every worker the pool may hold.
        let threadSlots = max(c.workers, c.maxWorkers) * c.threads
        if threadSlots > Config.scoreboardSlots {
            throw fail("threads", "\(c.threads) x \(max(c.workers, c.maxWorkers)) workers (the larger of workers and max_workers) is \(threadSlots) app threads, above the scoreboard's \(Config.scoreboardSlots) slots: fewer threads, or fewer workers / max_workers")
        }
        if c.maxWorkerMemoryHard > 0 && c.maxWorkerMemory > c.maxWorkerMemoryHard {
            throw fail("max_worker_memory", "is larger than max_worker_memory_hard (\(c.maxWorkerMemoryHard))")
        }
    }

    // MARK: typed readers

    func error(_ key: String, _ message: String) -> ConfigError {
        ConfigError(file: file, line: line(of: key), key: key, message: message)
    }

    /// An error in `key` of `c`: named by its flag if a flag set it.
    func error(_ key: String, _ message: String, in c: Config) -> ConfigError {
        if let flag = c.flags[key] { return ConfigError(file: file, line: 0, key: key, message: message, flag: flag) }
        return error(key, message)
    }

    /// Where a key of the file is, for a message about another: "h.conf:2".
    func location(of key: String) -> String {
        let n = line(of: key)
        return n > 0 ? "\(file):\(n)" : file
    }

    func typeName(_ v: TOMLValueConvertible) -> String { "\(v.type)" }

    func int(_ key: String, _ v: TOMLValueConvertible, _ rule: IntegerRange) throws -> Int {
        guard v.type == .int, let i = v.int else {
            throw error(key, "expected an integer, found \(typeName(v))")
        }
        if let problem = rule.problem(i) { throw error(key, problem) }
        return i
    }

    /// Seconds as an integer or a float (0.5), from 0 to `max`.
    func seconds(_ key: String, _ v: TOMLValueConvertible, max: Double) throws -> Double {
        let d: Double
        if v.type == .int, let i = v.int { d = Double(i) } else if v.type == .double, let f = v.double { d = f } else {
            throw error(key, "expected seconds (a number such as 2 or 0.5), found \(typeName(v))")
        }
        guard d >= 0, d <= max, d.isFinite else { throw error(key, "must be between 0 and \(Int(max)) seconds, found \(d)") }
        return d
    }

    func string(_ key: String, _ v: TOMLValueConvertible) throws -> String {
        guard v.type == .string, let s = v.string else {
            throw error(key, "expected a string, found \(typeName(v))")
        }
        return s
    }

    /// Absolute paths (the sandbox's): a relative one would depend on the directory gatewayd starts in.
    func absolutePaths(_ key: String, _ v: TOMLValueConvertible) throws -> [String] {
        let paths = try strings(key, v)
        if let bad = paths.first(where: { !$0.hasPrefix("/") }) { throw error(key, "\"\(bad)\" is not an absolute path") }
        return paths
    }

    func bool(_ key: String, _ v: TOMLValueConvertible) throws -> Bool {
        guard v.type == .bool, let b = v.bool else {
            throw error(key, "expected true or false, found \(typeName(v))")
        }
        return b
    }

    func strings(_ key: String, _ v: TOMLValueConvertible) throws -> [String] {
        if v.type == .string, let s = v.string { return [s] }
        guard v.type == .array, let array = v.array else {
            throw error(key, "expected an array of strings, found \(typeName(v))")
        }
        return try array.map { element in
            guard element.type == .string, let s = element.string else {
                throw error(key, "expected an array of strings, found an element of type \(typeName(element))")
            }
            return s
        }
    }

    func oneOf(_ key: String, _ v: TOMLValueConvertible, _ allowed: [String]) throws -> String {
        let s = try string(key, v)
        guard allowed.contains(s) else {
            throw error(key, "must be one of \(allowed.map { "\"\($0)\"" }.joined(separator: ", ")), found \"\(s)\"")
        }
        return s
    }

    func mode(_ key: String, _ v: TOMLValueConvertible) throws -> Int {
        if v.type == .int, let i = v.int, i >= 0, i <= 0o777 { return i }
        let s = try string(key, v)
        guard let m = Int(s, radix: 8), m >= 0, m <= 0o777 else {
            throw error(key, "expected an octal mode such as \"0660\", found \"\(s)\"")
        }
        return m
    }

    func accessFormat(_ key: String, _ v: TOMLValueConvertible) throws -> String {
        let s = try string(key, v)
        switch s {
        case "combined": return AccessLogFormat.combined
        case "common": return AccessLogFormat.common
        default:
            if let bad = AccessLogFormat.unknownVariable(in: s) {
                throw error(key, "unknown variable $\(bad)")
            }
            return s
        }
    }

    /// app_args: a table of scalars or arrays (name = value), sorted by name,
    /// or an array (argv style, names "0", "1", ..., in order). Values become strings.
    func appArgs(_ key: String, _ v: TOMLValueConvertible) throws -> [(name: String, value: String)] {
        if v.type == .array, let array = v.array {
            return try array.enumerated().map { (i, e) in (String(i), try scalarText(key, e)) }
        }
        guard v.type == .table, let table = v.table else {
            throw error(key, "expected a table (name = value) or an array, found \(typeName(v))")
        }
        // Sorted by name (byte order): the order init sees, documented in
        // gateway.h and docs/gateway-interface.md (TOML tables have none).
        return try table.keys.sorted().map { name in
            (name, try scalarText("\(key).\(name)", table[name]!))
        }
    }

    /// env: a table (NAME = "value") or an array of "NAME=value" strings.
    func environment(_ key: String, _ v: TOMLValueConvertible) throws -> [(name: String, value: String)] {
        if v.type == .table, let table = v.table {
            return try table.keys.sorted().map { name in
                guard Self.isEnvironmentName(name) else { throw error("\(key).\(name)", "is not an environment variable name") }
                return (name, try scalarText("\(key).\(name)", table[name]!))
            }
        }
        return try strings(key, v).map { entry in
            guard let eq = entry.firstIndex(of: "="), Self.isEnvironmentName(String(entry[..<eq])) else {
                throw error(key, "expected NAME=value, found \"\(entry)\"")
            }
            return (String(entry[..<eq]), String(entry[entry.index(after: eq)...]))
        }
    }

    static func isEnvironmentName(_ s: String) -> Bool {
        guard let first = s.utf8.first, !(0x30...0x39).contains(first) else { return false }
        return s.utf8.allSatisfy { $0 == 0x5F || (0x30...0x39).contains($0) || (0x41...0x5A).contains($0) || (0x61...0x7A).contains($0) }
    }

    /// script_name: "" or "/prefix" without a trailing slash.
    func scriptName(_ key: String, _ v: TOMLValueConvertible) throws -> String {
        var s = try string(key, v)
        while s.count > 1 && s.hasSuffix("/") { s.removeLast() }
        if s == "/" { s = "" }
        guard s.isEmpty || (s.hasPrefix("/") && !s.contains("?") && !s.contains("%")) else {
            throw error(key, "expected a path prefix such as \"/app\" (no query, not percent-encoded), found \"\(s)\"")
        }
        return s
    }

    /// secure_scheme_headers: a table of header name = value.
    func headerTable(_ key: String, _ v: TOMLValueConvertible) throws -> [(name: String, value: String)] {
        guard v.type == .table, let table = v.table else {
            throw error(key, "expected a table (\"Header-Name\" = \"value\"), found \(typeName(v))")
        }
        return try table.keys.sorted().map { name in
            guard !name.isEmpty, name.utf8.allSatisfy(CharClass.isToken) else {
                throw error(key, "\"\(name)\" is not a header field name")
            }
            let value = try string("\(key).\(name)", table[name]!)
            guard !value.isEmpty, value.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) else {
                throw error("\(key).\(name)", "expected a value of visible ASCII without spaces, found \"\(value)\"")
            }
            return (name, value)
        }
    }

    func scalarText(_ key: String, _ v: TOMLValueConvertible) throws -> String {
        switch v.type {
        case .string: return v.string ?? ""
        case .int: return String(v.int ?? 0)
        case .double: return String(v.double ?? 0)
        case .bool: return (v.bool ?? false) ? "true" : "false"
        case .array:
            return try (v.array ?? []).map { try scalarText(key, $0) }.joined(separator: ",")
        default:
            throw error(key, "expected a string, number, boolean or array, found \(typeName(v))")
        }
    }

    // MARK: locating keys

    /// The 1-based line where `key` is assigned ("key =" at the start of a
    /// line; for "table.name", "name =" inside [table]), or 0.
    func line(of key: String) -> Int {
        let parts = key.split(separator: ".", maxSplits: 1).map(String.init)
        let (section, name) = parts.count == 2 ? (parts[0], parts[1]) : ("", parts[0])
        var current = ""
        var number = 0
        for raw in text.split(separator: "\n", omittingEmptySubsequences: false) {
            number += 1
            let line = raw.drop { $0 == " " || $0 == "\t" }
            if line.hasPrefix("[") {
                current = String(line.drop { $0 == "[" }.prefix { $0 != "]" }).trimmingSpaces()
                // A top-level key given as a table ("[server]") is located at its header.
                if section.isEmpty && current == name { return number }
                continue
            }
            guard current == section, line.hasPrefix(name) else { continue }
            let rest = line.dropFirst(name.count).drop { $0 == " " || $0 == "\t" }
            if rest.hasPrefix("=") { return number }
            if section.isEmpty, rest.hasPrefix("."), name == "app_args" { return number }
        }
        if !section.isEmpty { return line(of: section) }
        return 0
    }
}

extension String {
    public func trimmingSpaces() -> String {
        var s = Substring(self)
        while let f = s.first, f == " " || f == "\t" { s = s.dropFirst() }
        while let l = s.last, l == " " || l == "\t" { s = s.dropLast() }
        return String(s)
    }
}
