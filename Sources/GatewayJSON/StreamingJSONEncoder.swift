#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// An `Encoder` that writes JSON bytes as the value's `encode(to:)` runs,
/// with no tree of intermediate values: what `respond(json:)` uses by
/// default. Its output is the bytes FoundationEssentials' `JSONEncoder()`
/// writes (the tests compare them), for values encoded in order: a
/// container is closed when its value's `encode(to:)` returns or when an
/// outer container is written to. What it cannot stream (a container used
/// after an outer one was written to, `superEncoder`, `Data`, `URL`,
/// `Decimal`, a NaN, a top-level value that encodes nothing) makes
/// `encode` return nil, and the caller encodes with `JSONEncoder` instead,
/// which gives Foundation's answer, error or bytes.
final class StreamingJSONEncoder: Encoder {
    /// What the encoder writes and tracks, behind a pointer: a class's
    /// stored `var` costs a dynamic exclusivity check per access (about a
    /// third of the encoding time, measured), a pointee none.
    struct State {
        var out: JSONBytes
        var codingPath: [any CodingKey] = []
        /// Set when the value did something this encoder cannot stream.
        var failed = false
        /// The open containers, innermost last.
        var open: [Open] = []
        /// One per value being encoded, innermost last.
        var values: [Value] = []
        var nextID: Int32 = 0
    }

    /// A container whose closing bracket is not written yet.
    struct Open {
        let id: Int32
        let closer: UInt8
        var count: Int32 = 0
    }

    /// A value being encoded: the container its `encode(to:)` asked for
    /// (-1: none yet, -2: a single value written), where its bytes start,
    /// and how many containers were open before it.
    struct Value {
        var container: Int32
        let start: Int
        let openBefore: Int
    }

    let state: UnsafeMutablePointer<State>

    var codingPath: [any CodingKey] { state.pointee.codingPath }
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    init(capacity: Int = 512) {
        state = .allocate(capacity: 1)
        state.initialize(to: State(out: JSONBytes(capacity: capacity)))
        state.pointee.open.reserveCapacity(8)
        state.pointee.values.reserveCapacity(8)
    }

    deinit {
        state.pointee.out.deallocate()
        state.deinitialize(count: 1)
        state.deallocate()
    }

    /// Calls `body` with the JSON text of `value` (valid during the call)
    /// and returns true; false, without calling it, when Foundation must
    /// encode the value.
    /// `newline`: a "\n" after the text (a JSON line).
    static func withEncoded<T: Encodable>(_ value: T, capacity: Int = 512, newline: Bool = false,
                                          _ body: (UnsafeRawBufferPointer) throws -> Void) throws -> Bool {
        let encoder = StreamingJSONEncoder(capacity: capacity)
        try encoder.encodeValue(value)
        if encoder.state.pointee.failed || encoder.state.pointee.out.isEmpty { return false }
        if newline { encoder.state.pointee.out.append(UInt8(ascii: "\n")) }
        try body(encoder.state.pointee.out.buffer)
        return true
    }

    /// The JSON text of `value`, or nil when Foundation must encode it.
    static func encode<T: Encodable>(_ value: T) throws -> [UInt8]? {
        var bytes: [UInt8]?
        _ = try withEncoded(value) { bytes = Array($0) }
        return bytes
    }

    func fail() { state.pointee.failed = true }

    @inline(__always)
    func appendInteger<T: FixedWidthInteger>(_ value: T) {
        if T.isSigned {
            state.pointee.out.appendInteger(Int64(truncatingIfNeeded: value))
        } else {
            state.pointee.out.appendInteger(UInt64(truncatingIfNeeded: value))
        }
    }

    // MARK: Values

    /// Encodes `value` where the caller put its key or comma.
    func encodeValue<T: Encodable>(_ value: T) throws {
        if state.pointee.failed { return }
        // Foundation's JSONEncoder writes these its own way (base64, a
        // string, a number), not by their encode(to:).
        if T.self == Data.self || T.self == URL.self || T.self == Decimal.self { return fail() }
        let start = state.pointee.out.count
        let openBefore = state.pointee.open.count
        state.pointee.values.append(Value(container: -1, start: start, openBefore: openBefore))
        defer { state.pointee.values.removeLast() }
        try value.encode(to: self)
        if state.pointee.failed { return }
        // The value is done: close what it opened.
        closeDown(to: openBefore)
        if state.pointee.out.count == start {
            // A nested value that encoded nothing is an empty object in
            // Foundation's output; a top-level one is its error.
            if state.pointee.values.count == 1 { return fail() }
            state.pointee.out.append("{}")
        }
    }

    private func closeDown(to count: Int) {
        while state.pointee.open.count > count { state.pointee.out.append(state.pointee.open.removeLast().closer) }
    }

    /// Pushes `key` on the coding path while `body` runs (a nested value's).
    @inline(__always)
    func with<R>(key: any CodingKey, _ body: () throws -> R) rethrows -> R {
        state.pointee.codingPath.append(key)
        defer { state.pointee.codingPath.removeLast() }
        return try body()
    }

    // MARK: Containers

    /// Makes `id` the innermost open container (closing the ones inside it)
    /// and writes the comma before its next element; false when it is closed.
    @inline(__always)
    func element(of id: Int32) -> Bool {
        if state.pointee.failed { return false }
        if state.pointee.open.last?.id != id {
            guard let index = state.pointee.open.lastIndex(where: { $0.id == id }) else { fail(); return false }
            closeDown(to: index + 1)
        }
        let last = state.pointee.open.count - 1
        if state.pointee.open[last].count > 0 { state.pointee.out.append(UInt8(ascii: ",")) }
        state.pointee.open[last].count &+= 1
        return true
    }

    /// `,"key":` in container `id`.
    @inline(__always)
    func key(_ key: some CodingKey, in id: Int32) -> Bool {
        guard element(of: id) else { return false }
        state.pointee.out.appendString(key.stringValue)
        state.pointee.out.append(UInt8(ascii: ":"))
        return true
    }

    /// Opens a container (after its key or comma) and returns its id.
    func openContainer(_ opener: UInt8, _ closer: UInt8) -> Int32 {
        state.pointee.out.append(opener)
        state.pointee.nextID &+= 1
        state.pointee.open.append(Open(id: state.pointee.nextID, closer: closer))
        return state.pointee.nextID
    }

    /// The container the current value's `encode(to:)` asks for; asked
    /// again (a subclass and its superclass), the same one.
    private func valueContainer(_ opener: UInt8, _ closer: UInt8) -> Int32 {
        guard !state.pointee.failed, let current = state.pointee.values.last else { fail(); return -1 }
        if current.container >= 0 {
            guard let index = state.pointee.open.lastIndex(where: { $0.id == current.container }),
                  state.pointee.open[index].closer == closer else {
                fail()
                return -1
            }
            closeDown(to: index + 1)
            return current.container
        }
        guard current.container == -1, state.pointee.out.count == current.start else { fail(); return -1 }
        let id = openContainer(opener, closer)
        state.pointee.values[state.pointee.values.count - 1].container = id
        return id
    }

    /// Called before a single value is written: true when the current
    /// value has written nothing else.
    func singleValue() -> Bool {
        guard !state.pointee.failed, let current = state.pointee.values.last, current.container == -1,
              state.pointee.out.count == current.start else {
            fail()
            return false
        }
        state.pointee.values[state.pointee.values.count - 1].container = -2
        return true
    }

    func container<Key: CodingKey>(keyedBy type: Key.Type) -> KeyedEncodingContainer<Key> {
        let id = valueContainer(UInt8(ascii: "{"), UInt8(ascii: "}"))
        return KeyedEncodingContainer(StreamingKeyedContainer<Key>(encoder: self, id: id, codingPath: codingPath))
    }

    func unkeyedContainer() -> any UnkeyedEncodingContainer {
        let id = valueContainer(UInt8(ascii: "["), UInt8(ascii: "]"))
        return StreamingUnkeyedContainer(encoder: self, id: id, codingPath: codingPath)
    }

    func singleValueContainer() -> any SingleValueEncodingContainer {
        StreamingSingleValueContainer(encoder: self)
    }
}

/// An index in an unkeyed container's coding path, as Foundation names it.
struct JSONIndexKey: CodingKey {
    let index: Int
    init(index: Int) { self.index = index }
    init?(stringValue: String) { return nil }
    init?(intValue: Int) { self.index = intValue }
    var stringValue: String { "Index \(index)" }
    var intValue: Int? { index }
}

/// The key Foundation gives `superEncoder()`/`superDecoder()`.
struct JSONSuperKey: CodingKey {
    init() {}
    init?(stringValue: String) { guard stringValue == "super" else { return nil } }
    init?(intValue: Int) { return nil }
    var stringValue: String { "super" }
    var intValue: Int? { nil }
}
