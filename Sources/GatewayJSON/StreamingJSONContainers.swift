/// The containers of `StreamingJSONEncoder`: each writes its elements
/// straight into the encoder's bytes. The primitive overloads (what
/// synthesized `encode(to:)` calls for String, Int, Bool... fields) write
/// without a nested encoder.
struct StreamingKeyedContainer<Key: CodingKey>: KeyedEncodingContainerProtocol {
    let encoder: StreamingJSONEncoder
    let id: Int32
    let codingPath: [any CodingKey]

    init(encoder: StreamingJSONEncoder, id: Int32, codingPath: [any CodingKey]) {
        self.encoder = encoder
        self.id = id
        self.codingPath = codingPath
    }

    mutating func encodeNil(forKey key: Key) throws {
        if encoder.key(key, in: id) { encoder.state.pointee.out.append("null") }
    }
    mutating func encode(_ value: Bool, forKey key: Key) throws {
        if encoder.key(key, in: id) { encoder.state.pointee.out.appendBool(value) }
    }
    mutating func encode(_ value: String, forKey key: Key) throws {
        if encoder.key(key, in: id) { encoder.state.pointee.out.appendString(value) }
    }
    mutating func encode(_ value: Double, forKey key: Key) throws {
        if encoder.key(key, in: id), !encoder.state.pointee.out.appendFloat(value) { encoder.fail() }
    }
    mutating func encode(_ value: Float, forKey key: Key) throws {
        if encoder.key(key, in: id), !encoder.state.pointee.out.appendFloat(value) { encoder.fail() }
    }
    mutating func encode(_ value: Int, forKey key: Key) throws { integer(value, key) }
    mutating func encode(_ value: Int8, forKey key: Key) throws { integer(value, key) }
    mutating func encode(_ value: Int16, forKey key: Key) throws { integer(value, key) }
    mutating func encode(_ value: Int32, forKey key: Key) throws { integer(value, key) }
    mutating func encode(_ value: Int64, forKey key: Key) throws { integer(value, key) }
    mutating func encode(_ value: UInt, forKey key: Key) throws { integer(value, key) }
    mutating func encode(_ value: UInt8, forKey key: Key) throws { integer(value, key) }
    mutating func encode(_ value: UInt16, forKey key: Key) throws { integer(value, key) }
    mutating func encode(_ value: UInt32, forKey key: Key) throws { integer(value, key) }
    mutating func encode(_ value: UInt64, forKey key: Key) throws { integer(value, key) }

    @inline(__always)
    private func integer<T: FixedWidthInteger>(_ value: T, _ key: Key) {
        if encoder.key(key, in: id) { encoder.appendInteger(value) }
    }

    mutating func encode<T: Encodable>(_ value: T, forKey key: Key) throws {
        guard encoder.key(key, in: id) else { return }
        try encoder.with(key: key) { try encoder.encodeValue(value) }
    }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type,
                                                        forKey key: Key) -> KeyedEncodingContainer<NestedKey> {
        let nested = encoder.key(key, in: id) ? encoder.openContainer(UInt8(ascii: "{"), UInt8(ascii: "}")) : -1
        return KeyedEncodingContainer(StreamingKeyedContainer<NestedKey>(encoder: encoder, id: nested,
                                                                         codingPath: codingPath + [key]))
    }

    mutating func nestedUnkeyedContainer(forKey key: Key) -> any UnkeyedEncodingContainer {
        let nested = encoder.key(key, in: id) ? encoder.openContainer(UInt8(ascii: "["), UInt8(ascii: "]")) : -1
        return StreamingUnkeyedContainer(encoder: encoder, id: nested, codingPath: codingPath + [key])
    }

    // An encoder handed out to be used later cannot be streamed.
    mutating func superEncoder() -> any Encoder { encoder.fail(); return encoder }
    mutating func superEncoder(forKey key: Key) -> any Encoder { encoder.fail(); return encoder }
}

struct StreamingUnkeyedContainer: UnkeyedEncodingContainer {
    let encoder: StreamingJSONEncoder
    let id: Int32
    let codingPath: [any CodingKey]
    private(set) var count = 0

    init(encoder: StreamingJSONEncoder, id: Int32, codingPath: [any CodingKey]) {
        self.encoder = encoder
        self.id = id
        self.codingPath = codingPath
    }

    @inline(__always)
    private mutating func element() -> Bool {
        guard encoder.element(of: id) else { return false }
        count += 1
        return true
    }

    mutating func encodeNil() throws { if element() { encoder.state.pointee.out.append("null") } }
    mutating func encode(_ value: Bool) throws { if element() { encoder.state.pointee.out.appendBool(value) } }
    mutating func encode(_ value: String) throws { if element() { encoder.state.pointee.out.appendString(value) } }
    mutating func encode(_ value: Double) throws {
        if element(), !encoder.state.pointee.out.appendFloat(value) { encoder.fail() }
    }
    mutating func encode(_ value: Float) throws {
        if element(), !encoder.state.pointee.out.appendFloat(value) { encoder.fail() }
    }
    mutating func encode(_ value: Int) throws { integer(value) }
    mutating func encode(_ value: Int8) throws { integer(value) }
    mutating func encode(_ value: Int16) throws { integer(value) }
    mutating func encode(_ value: Int32) throws { integer(value) }
    mutating func encode(_ value: Int64) throws { integer(value) }
    mutating func encode(_ value: UInt) throws { integer(value) }
    mutating func encode(_ value: UInt8) throws { integer(value) }
    mutating func encode(_ value: UInt16) throws { integer(value) }
    mutating func encode(_ value: UInt32) throws { integer(value) }
    mutating func encode(_ value: UInt64) throws { integer(value) }

    @inline(__always)
    private mutating func integer<T: FixedWidthInteger>(_ value: T) {
        if element() { encoder.appendInteger(value) }
    }

    mutating func encode<T: Encodable>(_ value: T) throws {
        guard element() else { return }
        try encoder.with(key: JSONIndexKey(index: count - 1)) { try encoder.encodeValue(value) }
    }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type) -> KeyedEncodingContainer<NestedKey> {
        let nested = element() ? encoder.openContainer(UInt8(ascii: "{"), UInt8(ascii: "}")) : -1
        return KeyedEncodingContainer(StreamingKeyedContainer<NestedKey>(
            encoder: encoder, id: nested, codingPath: codingPath + [JSONIndexKey(index: count - 1)]))
    }

    mutating func nestedUnkeyedContainer() -> any UnkeyedEncodingContainer {
        let nested = element() ? encoder.openContainer(UInt8(ascii: "["), UInt8(ascii: "]")) : -1
        return StreamingUnkeyedContainer(encoder: encoder, id: nested, codingPath: codingPath + [JSONIndexKey(index: count - 1)])
    }

    mutating func superEncoder() -> any Encoder { encoder.fail(); return encoder }
}

struct StreamingSingleValueContainer: SingleValueEncodingContainer {
    let encoder: StreamingJSONEncoder
    var codingPath: [any CodingKey] { encoder.codingPath }

    mutating func encodeNil() throws { if encoder.singleValue() { encoder.state.pointee.out.append("null") } }
    mutating func encode(_ value: Bool) throws { if encoder.singleValue() { encoder.state.pointee.out.appendBool(value) } }
    mutating func encode(_ value: String) throws { if encoder.singleValue() { encoder.state.pointee.out.appendString(value) } }
    mutating func encode(_ value: Double) throws {
        if encoder.singleValue(), !encoder.state.pointee.out.appendFloat(value) { encoder.fail() }
    }
    mutating func encode(_ value: Float) throws {
        if encoder.singleValue(), !encoder.state.pointee.out.appendFloat(value) { encoder.fail() }
    }
    mutating func encode(_ value: Int) throws { integer(value) }
    mutating func encode(_ value: Int8) throws { integer(value) }
    mutating func encode(_ value: Int16) throws { integer(value) }
    mutating func encode(_ value: Int32) throws { integer(value) }
    mutating func encode(_ value: Int64) throws { integer(value) }
    mutating func encode(_ value: UInt) throws { integer(value) }
    mutating func encode(_ value: UInt8) throws { integer(value) }
    mutating func encode(_ value: UInt16) throws { integer(value) }
    mutating func encode(_ value: UInt32) throws { integer(value) }
    mutating func encode(_ value: UInt64) throws { integer(value) }

    @inline(__always)
    private func integer<T: FixedWidthInteger>(_ value: T) {
        if encoder.singleValue() { encoder.appendInteger(value) }
    }

    mutating func encode<T: Encodable>(_ value: T) throws {
        if encoder.singleValue() { try encoder.encodeValue(value) }
    }
}
