import Foundation
import Testing
@testable import ServerCore

/// The keys table (ConfigKey.all) against the loader, Config's == and
/// docs/configuration.md (issue 24).
@Suite struct ConfigKeysTests {
    static let docs: String = {
        var parts = String(#filePath).split(separator: "/", omittingEmptySubsequences: false)
        parts.removeLast(3)
        return parts.joined(separator: "/") + "/docs/configuration.md"
    }()

    func parse(_ text: String) throws -> Config {
        try ConfigLoader(file: "k.conf", text: text, environment: [:]).parse()
    }

    @Test func namesAreUnique() {
        let names = ConfigKey.all.map(\.name)
        #expect(Set(names).count == names.count)
    }

    /// Each key's sample is read, makes the config differ (==), and differs
    /// only in that key's entry: the loader, == and the table agree.
    @Test(arguments: ConfigKey.all.map(\.name))
    func eachKeyIsReadAndCompared(_ name: String) throws {
        let key = try #require(ConfigKey.all.first { $0.name == name })
        let base = try parse("app = \"a.so\"\n")
        let text = (name == "app" ? "" : "app = \"a.so\"\n") + "\(name) = \(key.sample)\n"
        let changed = try parse(text)
        #expect(changed != base, "Config's == does not see \(name)")
        #expect(!key.same(changed, base), "\(name)'s entry does not see its own value")
        for other in ConfigKey.all where other.name != name {
            #expect(other.same(changed, base), "\(name) = \(key.sample) changed \(other.name)")
        }
    }

    /// Each environment variable of the table is read by the loader (the
    /// process's: ConfigLoader.processEnvironment) and sets its key alone.
    @Test func eachEnvironmentVariableSetsItsKey() throws {
        let samples = ["PORT": "5000", "WEB_CONCURRENCY": "3", "FORWARDED_ALLOW_IPS": "10.0.0.1", "SCRIPT_NAME": "/shop/"]
        let keys = ConfigKey.all.filter { $0.environment != nil }
        #expect(Set(keys.compactMap(\.environment)) == Set(samples.keys))
        #expect(Set(ConfigLoader.environmentNames) == Set(samples.keys))
        let base = try parse("app = \"a.so\"\n")
        for key in keys {
            let name = key.environment!
            let c = try ConfigLoader(file: "k.conf", text: "app = \"a.so\"\n", environment: [name: samples[name]!]).parse()
            #expect(!key.same(c, base), "\(name) does not set \(key.name)")
            for other in ConfigKey.all where other.name != key.name {
                #expect(other.same(c, base), "\(name) changed \(other.name)")
            }
            // The file wins over the environment.
            let file = try ConfigLoader(file: "k.conf", text: "app = \"a.so\"\n\(key.name) = \(key.sample)\n",
                                        environment: [name: samples[name]!]).parse()
            #expect(key.same(file, try parse("app = \"a.so\"\n\(key.name) = \(key.sample)\n")), "\(name) won over the file's \(key.name)")
        }
        let c = try ConfigLoader(file: "k.conf", text: "app = \"a.so\"\n", environment: ["SCRIPT_NAME": "/shop/"]).parse()
        #expect(c.scriptName == "/shop")
        // The shipped gatewayd.conf writes script_name = "": SCRIPT_NAME still
        // applies, as it did before the table (and as Gunicorn reads it).
        let shipped = try ConfigLoader(file: "k.conf", text: "app = \"a.so\"\nscript_name = \"\"\n",
                                       environment: ["SCRIPT_NAME": "/shop"]).parse()
        #expect(shipped.scriptName == "/shop")
        #expect(throws: ConfigError.self) {
            try ConfigLoader(file: "k.conf", text: "app = \"a.so\"\n", environment: ["SCRIPT_NAME": "shop?x"]).parse()
        }
    }

    @Test func anUnknownKeyIsRefused() {
        #expect(throws: ConfigError.self) { try parse("app = \"a.so\"\nno_such_key = 1\n") }
    }

    /// docs/configuration.md's "Keys" table: the same keys; each row's type
    /// (with its range) is the table's rule, and each default it documents
    /// as a TOML value is the built-in one.
    @Test func theDocumentedTableIsTheTable() throws {
        let text = try String(contentsOfFile: Self.docs, encoding: .utf8)
        let section = try #require(text.components(separatedBy: "## Keys").dropFirst().first)
        var documented: [String] = []
        let base = try parse("app = \"a.so\"\n")
        for row in section.split(separator: "\n") where row.hasPrefix("| `") {
            let cells = row.dropFirst(2).components(separatedBy: " | ")
            guard cells.count >= 3 else { continue }
            let names = cells[0].components(separatedBy: "`").enumerated().filter { $0.offset % 2 == 1 }.map(\.element)
            documented += names
            for name in names {
                let key = try #require(ConfigKey.all.first { $0.name == name }, "\(name) is not in ConfigKey.all")
                #expect(cells[1] == key.type, "docs/configuration.md says \(name) is \"\(cells[1])\", the table \"\(key.type)\"")
            }
            // "`2048`", "`[]` (off)": the value in backticks, if that is all there is
            let value = cells[2].components(separatedBy: "`")
            guard value.count >= 3, value[0].isEmpty, value.count == 3 else { continue }
            for name in names where name != "app" {
                let key = try #require(ConfigKey.all.first { $0.name == name })
                let parsed = try parse("app = \"a.so\"\n\(name) = \(value[1])\n")
                #expect(key.same(parsed, base), "docs/configuration.md's default of \(name), \(value[1]), is not the built-in one")
            }
        }
        #expect(documented.sorted() == ConfigKey.all.map(\.name).sorted())
    }

    /// An integer key's range is its entry's: the file's value just outside
    /// it is refused with the range's words, at the key's line.
    @Test(arguments: ConfigKey.all.filter { $0.range != nil }.map(\.name))
    func eachIntegerRangeIsTheTables(_ name: String) throws {
        let key = try #require(ConfigKey.all.first { $0.name == name })
        let range = try #require(key.range)
        let words = range.max == Int.max ? "at least \(range.min)" : "between \(range.min) and \(range.max)"
        var outside = [range.min - 1]
        if range.max < Int.max { outside.append(range.max + 1) }
        for n in outside {
            do {
                _ = try parse("app = \"a.so\"\n\(name) = \(n)\n")
                Issue.record("\(name) = \(n) was taken")
            } catch let e as ConfigError {
                #expect(e.line == 2 && e.key == name && e.message == "must be \(words), found \(n)")
            }
        }
        _ = try parse("app = \"a.so\"\n\(name) = \(range.min)\n")
        if range.max < Int.max { _ = try parse("app = \"a.so\"\n\(name) = \(range.max)\n") }
    }
}
