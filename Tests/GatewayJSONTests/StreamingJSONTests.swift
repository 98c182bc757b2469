#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Gateway
@testable import GatewayJSON
import GatewayTesting
import Testing

/// GatewayJSON's own encoder and decoder against Foundation's, on a table
/// of values: the same bytes out, the same values in; and what they leave
/// to Foundation (nil) is left, not answered differently.
@Suite struct StreamingJSONTests {
    struct Todo: Codable, Equatable { var id: Int; var title: String; var done: Bool }
    struct Optionals: Codable, Equatable { var a: String?; var b: Int?; var c: [Int]? }
    struct Nested: Codable, Equatable {
        var name: String
        var todos: [Todo]
        var tags: [String: Int]
        var matrix: [[Double]]
        var inner: Optionals
    }
    struct Numbers: Codable, Equatable {
        var i8: Int8; var i16: Int16; var i32: Int32; var i64: Int64
        var u8: UInt8; var u64: UInt64; var d: Double; var u: UInt
    }
    /// Manual containers: nested keyed and unkeyed, single values.
    struct Manual: Codable, Equatable {
        var x: Int
        var list: [String]
        enum Keys: String, CodingKey { case x, meta, list }
        enum Meta: String, CodingKey { case x, list }
        init(x: Int, list: [String]) { self.x = x; self.list = list }
        func encode(to encoder: Encoder) throws {
            var c = encoder.container(keyedBy: Keys.self)
            var meta = c.nestedContainer(keyedBy: Meta.self, forKey: .meta)
            try meta.encode(x, forKey: .x)
            var list = meta.nestedUnkeyedContainer(forKey: .list)
            for item in self.list { try list.encode(item) }
            try list.encodeNil()
            try c.encode(x + 1, forKey: .x)
        }
        init(from decoder: Decoder) throws {
            let c = try decoder.container(keyedBy: Keys.self)
            let meta = try c.nestedContainer(keyedBy: Meta.self, forKey: .meta)
            x = try meta.decode(Int.self, forKey: .x)
            var list = try meta.nestedUnkeyedContainer(forKey: .list)
            var items: [String] = []
            while !list.isAtEnd { if try list.decodeNil() { continue }; items.append(try list.decode(String.self)) }
            self.list = items
        }
    }
    struct Wrapper: Codable, Equatable {
        var raw: String
        init(_ raw: String) { self.raw = raw }
        init(from decoder: Decoder) throws { raw = try decoder.singleValueContainer().decode(String.self) }
        func encode(to encoder: Encoder) throws { var c = encoder.singleValueContainer(); try c.encode(raw) }
    }
    struct Empty: Codable, Equatable { func encode(to encoder: Encoder) throws {} ; init() {}; init(from decoder: Decoder) throws {} }
    struct HasEmpty: Codable, Equatable { var e: Empty; var n: Int }
    class Base: Codable { var a = 1; init() {} }
    final class Derived: Base {
        var b = 2
        enum Keys: CodingKey { case b }
        override init() { super.init() }
        required init(from decoder: Decoder) throws { fatalError() }
        override func encode(to encoder: Encoder) throws {
            var c = encoder.container(keyedBy: Keys.self)
            try c.encode(b, forKey: .b)
            try super.encode(to: encoder)   // the same encoder: one object
        }
    }
    /// Writes to the outer container after a nested one, then to the
    /// nested one again: not streamable.
    struct OutOfOrder: Encodable {
        enum Keys: CodingKey { case a, b, c }
        func encode(to encoder: Encoder) throws {
            var c = encoder.container(keyedBy: Keys.self)
            var a = c.nestedUnkeyedContainer(forKey: .a)
            try a.encode(1)
            try c.encode(2, forKey: .b)
            try a.encode(3)
        }
    }
    struct Super: Encodable {
        enum Keys: CodingKey { case x }
        func encode(to encoder: Encoder) throws {
            var c = encoder.container(keyedBy: Keys.self)
            try c.encode(1, forKey: .x)
            try Todo(id: 1, title: "s", done: true).encode(to: c.superEncoder())
        }
    }

    /// Any JSON value, as Foundation reads it: objects compare without order.
    indirect enum AnyJSON: Decodable, Equatable {
        case null, bool(Bool), number(Double), string(String), array([AnyJSON]), object([String: AnyJSON])
        init(from decoder: Decoder) throws {
            let c = try decoder.singleValueContainer()
            if c.decodeNil() { self = .null }
            else if let v = try? c.decode(Bool.self) { self = .bool(v) }
            else if let v = try? c.decode(Double.self) { self = .number(v) }
            else if let v = try? c.decode(String.self) { self = .string(v) }
            else if let v = try? c.decode([AnyJSON].self) { self = .array(v) }
            else { self = .object(try c.decode([String: AnyJSON].self)) }
        }
    }

    static let strings = [
        "", "plain", "quote \" backslash \\ slash /", "\u{0}\u{1}\u{8}\u{9}\u{A}\u{B}\u{C}\u{D}\u{1F}\u{7F}",
        "é ü 漢字 🎉 \u{2028}\u{2029}", "e\u{301}", String(repeating: "long ", count: 100),
        "\"", "\\\\", "/a/", "\n", String(repeating: "a\"/\u{1}b", count: 2000),  // escapes that grow the buffer mid-string
    ]
    static let doubles: [Double] = [0, -0.0, 1, -1, 1.5, 0.1, 1.0 / 3, 1e-7, 1e21, 1e300, .leastNonzeroMagnitude, .greatestFiniteMagnitude,
                                    123456789012345680, 2.5e-5, 100, 1e16]

    func foundation<T: Encodable>(_ value: T) throws -> String {
        String(decoding: try JSONEncoder().encode(value), as: UTF8.self)
    }

    func streaming<T: Encodable>(_ value: T) throws -> String? {
        try StreamingJSONEncoder.encode(value).map { String(decoding: $0, as: UTF8.self) }
    }

    func expectSame<T: Encodable>(_ value: T, sourceLocation: SourceLocation = #_sourceLocation) throws {
        // Foundation writes an object's keys in hash order (it changes from
        // run to run); GatewayJSON in the order they are encoded. Texts that
        // differ must then be the same JSON, read back by Foundation.
        let expected = try foundation(value)
        let mine = try streaming(value)
        guard let mine, mine != expected else { return #expect(mine != nil, sourceLocation: sourceLocation) }
        let a = try JSONDecoder().decode(AnyJSON.self, from: Data(mine.utf8))
        let b = try JSONDecoder().decode(AnyJSON.self, from: Data(expected.utf8))
        #expect(a == b, "\(mine) != \(expected)", sourceLocation: sourceLocation)
    }

    @Test func encodesStringsAsFoundationDoes() throws {
        for string in StreamingJSONTests.strings {
            try expectSame(string)
            try expectSame([string: string])
            try expectSame(Todo(id: 1, title: string, done: false))
        }
    }

    @Test func encodesNumbersAsFoundationDoes() throws {
        for double in StreamingJSONTests.doubles {
            try expectSame(double)
            try expectSame([double, -double])
        }
        try expectSame(Float(1.1))
        try expectSame([Int.min, Int.max, 0, -1])
        try expectSame(Numbers(i8: .min, i16: .max, i32: .min, i64: .min, u8: .max, u64: .max, d: 2.75, u: 7))
    }

    @Test func encodesContainersAsFoundationDoes() throws {
        try expectSame([Todo(id: 1, title: "a", done: true), Todo(id: 2, title: "b", done: false)])
        try expectSame([Todo]())
        try expectSame(Optionals(a: nil, b: 3, c: nil))
        try expectSame(Optionals(a: "x", b: nil, c: []))
        try expectSame([String?.none, "x"])
        try expectSame(Nested(name: "n", todos: [Todo(id: 3, title: "t", done: true)], tags: ["k": 1],
                              matrix: [[1, 2.5], [], [-3]], inner: Optionals(a: "i", b: 2, c: [1, 2])))
        try expectSame(Manual(x: 5, list: ["p", "q"]))
        try expectSame([Wrapper("w"), Wrapper("v")])
        try expectSame(HasEmpty(e: Empty(), n: 1))
        try expectSame(Derived())
        try expectSame(true)
        try expectSame(["a": ["b": [1]]])
    }

    @Test func leavesToFoundationWhatItCannotStream() throws {
        #expect(try streaming(OutOfOrder()) == nil)
        #expect(try streaming(Super()) == nil)
        #expect(try streaming(Double.nan) == nil)
        #expect(try streaming([Double.infinity]) == nil)
        #expect(try streaming(Data([1, 2, 3])) == nil)
        #expect(try streaming(Empty()) == nil)
        #expect(try streaming(["d": Data([1])]) == nil)
    }

    // MARK: Decoding

    func tape<T: Decodable>(_ type: T.Type, _ text: String) -> T? {
        var text = text
        return text.withUTF8 { TapeJSONDecoder.decode(T.self, from: $0) }
    }

    func expectSameDecoding<T: Decodable & Equatable>(_ type: T.Type, _ text: String,
                                                      sourceLocation: SourceLocation = #_sourceLocation) {
        let expected = try? JSONDecoder().decode(T.self, from: Data(text.utf8))
        let mine = tape(T.self, text)
        // nil from the tape decoder means "ask Foundation": never a different answer.
        if let mine { #expect(mine == expected, "\(text)", sourceLocation: sourceLocation) }
    }

    @Test func decodesAsFoundationDoes() throws {
        #expect(tape(Todo.self, #"{"id": 1, "title": "milk", "done": false}"#) == Todo(id: 1, title: "milk", done: false))
        #expect(tape(Optionals.self, #"{"a": null, "c": [1, 2]}"#) == Optionals(a: nil, b: nil, c: [1, 2]))
        #expect(tape([Todo].self, #" [ {"done":true,"title":"x","id":-7} ] "#) == [Todo(id: -7, title: "x", done: true)])
        #expect(tape(Manual.self, #"{"meta": {"x": 5, "list": ["p", null, "q"]}, "x": 6}"#) == Manual(x: 5, list: ["p", "q"]))
        #expect(tape([Wrapper].self, #"["w"]"#) == [Wrapper("w")])
        #expect(tape([String: Int].self, #"{"a": 1, "b": 2}"#) == ["a": 1, "b": 2])
        #expect(tape(Int64.self, "-9223372036854775808") == Int64.min)
        #expect(tape(UInt64.self, "18446744073709551615") == UInt64.max)
        for string in StreamingJSONTests.strings {
            let json = try foundation(string)
            #expect(tape(String.self, json) == string, "\(json)")
            expectSameDecoding(String.self, json)
        }
        for double in StreamingJSONTests.doubles {
            let json = try foundation(double)
            #expect(tape(Double.self, json) == double, "\(json)")
        }
        for text in [#""\u00e9\ud83c\udf89\n\"\\\/""#, #""\u0041""#, "1e2", "-0", "0.5e-3", "[1,2.5,3]",
                     #"{"id":1,"id":2,"title":"dup","done":true}"#, #"{"ti\u0074le":"esc","id":1,"done":false}"#] {
            expectSameDecoding(String.self, text)
            expectSameDecoding(Double.self, text)
            expectSameDecoding([Double].self, text)
            expectSameDecoding(Todo.self, text)
        }
        let nested = Nested(name: "n", todos: [Todo(id: 3, title: "t/\"", done: true)], tags: ["k": 1, "é": 2],
                            matrix: [[1, 2.5], [], [-3]], inner: Optionals(a: "i", b: 2, c: [1, 2]))
        #expect(tape(Nested.self, try foundation(nested)) == nested)
    }

    @Test(arguments: [
        "", " ", "{", "}", "[1,]", "{\"a\":1,}", "01", "1.", ".5", "-", "+1", "1e", "tru", "nul", "[1 2]",
        "{\"a\" 1}", "{a:1}", "'a'", "\"\u{1}\"", "\"\\x\"", "\"\\u12\"", "\"\\ud800\"", "\"abc", "[\"a\"",
        "1 2", "\u{FEFF}{}", "NaN", "Infinity", "[" + String(repeating: "[", count: 600) + "]",
    ])
    func refusesMalformedJSON(text: String) {
        #expect(tape(Double.self, text) == nil)
        #expect(tape([Double].self, text) == nil)
        #expect(tape(String.self, text) == nil)
        #expect(tape([String: Int].self, text) == nil)
    }

    @Test func invalidUTF8IsLeftToFoundation() {
        let bytes: [UInt8] = [0x22, 0xC3, 0x28, 0x22]   // "\xC3(" : a broken sequence
        #expect(bytes.withUnsafeBufferPointer { TapeJSONDecoder.decode(String.self, from: $0) } == nil)
    }

    @Test(arguments: [
        (#"{"id": 1.5, "title": "a", "done": true}"#, "Int from a fraction"),
        (#"{"id": 99999999999999999999, "title": "a", "done": true}"#, "past Int64"),
        (#"{"id": 1, "title": 5, "done": true}"#, "a type mismatch"),
        (#"{"id": 1, "done": true}"#, "a missing key"),
        (#"{"id": 1, "title": null, "done": true}"#, "a null"),
        (#"{"id": 1e2, "title": "a", "done": true}"#, "Int with an exponent"),
    ])
    func leavesErrorsAndCornersToFoundation(text: String, what: String) {
        #expect(tape(Todo.self, text) == nil, "\(what)")
    }

    @Test func mediaTypes() {
        #expect(JSONMediaType.isJSON("application/json"))
        #expect(JSONMediaType.isJSON("Application/JSON; charset=utf-8"))
        #expect(JSONMediaType.isJSON("application/problem+json"))
        #expect(!JSONMediaType.isJSON("text/plain"))
        #expect(!JSONMediaType.isJSON("json"))
        #expect(!JSONMediaType.isJSON(""))
    }

    // MARK: Through the SDK: what the fast path leaves to Foundation still answers

    struct WithData: Codable, Equatable { var name: String; var blob: Data; var ratio: Float }
    struct Decodes: Codable, Equatable { var a: [String: Int]; var b: [[Int?]]; var c: Int64; var d: UInt8 }

    func server() -> TestServer {
        let router = Router()
        router.post("/data") { request, response in
            try response.respond(json: try request.decode(WithData.self))
        }
        router.post("/decodes") { request, response in
            try response.respond(json: try request.decode(Decodes.self))
        }
        router.get("/out-of-order") { _, response in try response.respond(json: OutOfOrder()) }
        router.get("/nan") { _, response in try response.respond(json: [Double.nan]) }
        return TestServer(router.with())
    }

    @Test func fallbacksAnswerAsFoundation() throws {
        let value = WithData(name: "n", blob: Data([0, 1, 254]), ratio: 0.25)
        let body = try foundation(value)
        #expect(body.contains("AAH+"))  // base64, as Foundation writes Data
        let echoed = server().execute("POST", "/data", body: body)
        #expect(echoed.status == .ok)
        #expect(try JSONDecoder().decode(WithData.self, from: Data(echoed.text.utf8)) == value)
        let out = server().execute("GET", "/out-of-order")
        #expect(try JSONDecoder().decode(AnyJSON.self, from: Data(out.text.utf8))
                == JSONDecoder().decode(AnyJSON.self, from: Data(try foundation(OutOfOrder()).utf8)))
        // Foundation refuses NaN: the handler's error, a 500
        #expect(server().execute("GET", "/nan").status == .internalServerError)
    }

    @Test func decodesNestedContainersAndIntegerRanges() throws {
        let value = Decodes(a: ["x": 1, "é": -2], b: [[1, nil], [], [nil]], c: .min, d: 255)
        let text = try foundation(value)
        #expect(tape(Decodes.self, text) == value)
        let response = server().execute("POST", "/decodes", body: text)
        #expect(try JSONDecoder().decode(Decodes.self, from: Data(response.text.utf8)) == value)
        // out of UInt8's range: a 400 with Foundation's own answer
        for text in [#"{"a":{},"b":[],"c":1,"d":256}"#, #"{"a":{},"b":[[true]],"c":1,"d":2}"#, #"{"a":{"k":"v"},"b":[],"c":1,"d":2}"#] {
            var expected: String?
            do { _ = try JSONDecoder().decode(Decodes.self, from: Data(text.utf8)) } catch let error as DecodingError {
                expected = JSONProblem.badRequest(error).detail
            }
            let bad = server().execute("POST", "/decodes", body: text)
            #expect(bad.status == .badRequest)
            #expect(expected != nil && bad.text.contains(#""detail":"\#(expected ?? "")""#), "\(bad.text)")
        }
    }
}
