#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// A `Decoder` over a `JSONTape`: what `request.decode(_:)` uses by
/// default. It decodes what it can read plainly, as Foundation's
/// `JSONDecoder()` would; at anything else (every error, a number that is
/// not plain digits for an integer, `Float`, `Data`, `URL`, `Decimal`,
/// `superDecoder`, an object of more than 64 members) it throws
/// `JSONTapeFallback`, and the caller decodes the same bytes with
/// `JSONDecoder`, so errors and corner cases are Foundation's own.
final class TapeJSONDecoder: Decoder {
    let tape: JSONTape
    /// The node being decoded and the coding path, behind a pointer (a
    /// class's stored `var` costs a dynamic exclusivity check per access).
    struct State {
        var current = 0
        var codingPath: [any CodingKey] = []
    }
    let state: UnsafeMutablePointer<State>

    var codingPath: [any CodingKey] { state.pointee.codingPath }
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    init(tape: JSONTape) {
        self.tape = tape
        state = .allocate(capacity: 1)
        state.initialize(to: State())
    }

    deinit {
        state.deinitialize(count: 1)
        state.deallocate()
    }

    /// Pushes `key` on the coding path while `body` runs.
    @inline(__always)
    func with<R>(key: any CodingKey, _ body: () throws -> R) rethrows -> R {
        state.pointee.codingPath.append(key)
        defer { state.pointee.codingPath.removeLast() }
        return try body()
    }

    /// `T` from `text`, or nil when Foundation must decode it.
    static func decode<T: Decodable>(_ type: T.Type, from text: UnsafeBufferPointer<UInt8>) -> T? {
        guard let tape = JSONTape(text) else { return nil }
        let decoder = TapeJSONDecoder(tape: tape)
        return try? decoder.decodeValue(T.self, at: 0)
    }

    func decodeValue<T: Decodable>(_ type: T.Type, at node: Int) throws -> T {
        if T.self == Data.self || T.self == URL.self || T.self == Decimal.self { throw JSONTapeFallback() }
        let saved = state.pointee.current
        state.pointee.current = node
        defer { state.pointee.current = saved }
        return try T(from: self)
    }

    func container<Key: CodingKey>(keyedBy type: Key.Type) throws -> KeyedDecodingContainer<Key> {
        let current = state.pointee.current
        let node = tape[current]
        guard node.kind == .object, node.count <= 64 else { throw JSONTapeFallback() }
        return KeyedDecodingContainer(TapeKeyedContainer<Key>(decoder: self, object: current, codingPath: codingPath))
    }

    func unkeyedContainer() throws -> any UnkeyedDecodingContainer {
        guard tape[state.pointee.current].kind == .array else { throw JSONTapeFallback() }
        return TapeUnkeyedContainer(decoder: self, array: state.pointee.current, codingPath: codingPath)
    }

    func singleValueContainer() throws -> any SingleValueDecodingContainer {
        TapeSingleValueContainer(decoder: self, node: state.pointee.current, codingPath: codingPath)
    }

    // MARK: Primitives, shared by the containers

    func bool(at index: Int) throws -> Bool {
        let node = tape[index]
        guard node.kind == .bool else { throw JSONTapeFallback() }
        return node.flags & JSONTape.isTrue != 0
    }

    func string(at index: Int) throws -> String {
        let node = tape[index]
        guard node.kind == .string, let value = tape.string(node) else { throw JSONTapeFallback() }
        return value
    }

    func double(at index: Int) throws -> Double {
        guard let value = tape.double(tape[index]) else { throw JSONTapeFallback() }
        return value
    }

    func integer<T: FixedWidthInteger>(at index: Int, as type: T.Type) throws -> T {
        guard let value = tape.integer(tape[index], as: T.self) else { throw JSONTapeFallback() }
        return value
    }

    func isNull(at index: Int) -> Bool { tape[index].kind == .null }
}

/// Thrown where the tape decoder leaves the decoding to Foundation.
struct JSONTapeFallback: Error {}
