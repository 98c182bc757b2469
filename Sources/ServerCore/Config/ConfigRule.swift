import TOMLKit

/// How one key's TOML value is read and checked: its type and range as one
/// value. The loader reads the file's value with it, a value a flag or the
/// environment set is checked by its range, and docs/configuration.md's
/// "type" column is its `docs` (ConfigKeysTests).
public struct ConfigRule<Value> {
    /// The type and range as docs/configuration.md's table writes them.
    public let docs: String
    /// The range of an integer key.
    public let range: IntegerRange?
    let read: (ConfigLoader, String, TOMLValueConvertible) throws -> Value
    /// Why a value set by a flag or the environment is out of range, or nil.
    let problem: (Value) -> String?

    init(docs: String, range: IntegerRange? = nil, problem: @escaping (Value) -> String? = { _ in nil },
         read: @escaping (ConfigLoader, String, TOMLValueConvertible) throws -> Value) {
        self.docs = docs
        self.range = range
        self.problem = problem
        self.read = read
    }
}

/// The range of an integer key: one rule for the file's key and for the
/// flag that sets it (-w, -t, --max-requests, ...), so the two cannot drift.
public struct IntegerRange: Equatable {
    public let min: Int
    public let max: Int

    /// Why `value` is out of range, or nil.
    func problem(_ value: Int) -> String? {
        guard value < min || value > max else { return nil }
        let range = max == Int.max ? "at least \(min)" : "between \(min) and \(max)"
        return "must be \(range), found \(value)"
    }

    /// "1..65535", ", at least 1", or nothing for 0 and up.
    var docs: String {
        if max != Int.max { return " \(min)..\(max)" }
        return min > 0 ? ", at least \(min)" : ""
    }
}

extension ConfigRule where Value == Int {
    /// An integer from `min` to `max`; `unit` for the docs ("seconds", "MB", "bytes").
    static func integer(_ unit: String? = nil, min: Int, max: Int = Int.max) -> ConfigRule {
        let range = IntegerRange(min: min, max: max)
        return ConfigRule(docs: "integer" + (unit.map { " \($0)" } ?? "") + range.docs, range: range, problem: range.problem) {
            try $0.int($1, $2, range)
        }
    }

    /// A file mode: "0660" (or an integer).
    static var mode: ConfigRule { ConfigRule(docs: "octal string") { try $0.mode($1, $2) } }
}

extension ConfigRule where Value == Double {
    /// Seconds as an integer or a float (0.5), from 0 to `max`.
    static func seconds(max: Double) -> ConfigRule {
        ConfigRule(docs: "seconds 0..\(Int(max)) (a fraction allowed)") { try $0.seconds($1, $2, max: max) }
    }
}

extension ConfigRule where Value == String {
    static var string: ConfigRule { ConfigRule(docs: "string") { try $0.string($1, $2) } }
}

extension ConfigRule where Value == Bool {
    static var boolean: ConfigRule { ConfigRule(docs: "boolean") { try $0.bool($1, $2) } }
}

extension ConfigRule where Value == [String] {
    /// An array of strings (a single string is an array of one).
    static var strings: ConfigRule { ConfigRule(docs: "array of strings") { try $0.strings($1, $2) } }
    /// Absolute paths (the sandbox's): a relative one would depend on where gatewayd starts.
    static var absolutePaths: ConfigRule { ConfigRule(docs: "array of absolute paths") { try $0.absolutePaths($1, $2) } }
}

extension ConfigRule where Value: CaseIterable & RawRepresentable, Value.RawValue == String {
    /// One of the enum's values, spelled exactly.
    static var oneOf: ConfigRule {
        let names = Value.allCases.map(\.rawValue)
        return ConfigRule(docs: names.map { "`\"\($0)\"`" }.joined(separator: " or ")) { loader, key, v in
            Value(rawValue: try loader.oneOf(key, v, names))!
        }
    }
}

// The keys with a reader of their own (ConfigLoader's typed readers).

extension ConfigRule where Value == String {
    /// "" or "/prefix" without a trailing slash.
    static var scriptName: ConfigRule { ConfigRule(docs: "string") { try $0.scriptName($1, $2) } }
    /// "combined", "common", or a template of known variables.
    static var accessLogFormat: ConfigRule { ConfigRule(docs: "string") { try $0.accessFormat($1, $2) } }
}

extension ConfigRule where Value == Config.LogLevel {
    /// A level in any case; Gunicorn's "critical" is "error".
    static var logLevel: ConfigRule {
        ConfigRule(docs: "`debug`, `info`, `warning`, `error`") { loader, key, v in
            let s = try loader.string(key, v)
            guard let level = Config.LogLevel(anyCase: s) else { throw loader.error(key, ConfigLoader.logLevelProblem(s)!) }
            return level
        }
    }
}

extension ConfigRule where Value == [(name: String, value: String)] {
    /// app_args: a table of scalars or arrays, or an array (argv style).
    static var appArgs: ConfigRule { ConfigRule(docs: "table or array") { try $0.appArgs($1, $2) } }
    /// env: a table (NAME = "value") or an array of "NAME=value".
    static var environment: ConfigRule { ConfigRule(docs: "array of `\"NAME=value\"`, or a table") { try $0.environment($1, $2) } }
    /// secure_scheme_headers: a table of header name = value.
    static var headerTable: ConfigRule { ConfigRule(docs: "table of strings") { try $0.headerTable($1, $2) } }
}
