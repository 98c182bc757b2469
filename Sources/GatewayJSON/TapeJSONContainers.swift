/// The containers of `TapeJSONDecoder`: node indices into its tape. Every
/// failure throws `JSONTapeFallback` (Foundation then says what was wrong).
struct TapeKeyedContainer<Key: CodingKey>: KeyedDecodingContainerProtocol {
    let decoder: TapeJSONDecoder
    let object: Int
    let codingPath: [any CodingKey]

    init(decoder: TapeJSONDecoder, object: Int, codingPath: [any CodingKey]) {
        self.decoder = decoder
        self.object = object
        self.codingPath = codingPath
    }

    /// The value node of `key`: the first member of that name, as
    /// Foundation keeps the first of duplicate keys.
    private func find(_ key: Key) -> Int? {
        let tape = decoder.tape
        let name = key.stringValue
        var member = object + 1
        for _ in 0..<tape[object].count {
            if tape.key(tape[member], is: name) { return member + 1 }
            member = Int(tape[member + 1].next)
        }
        return nil
    }

    private func value(_ key: Key) throws -> Int {
        guard let index = find(key) else { throw JSONTapeFallback() }
        return index
    }

    var allKeys: [Key] {
        let tape = decoder.tape
        var names: [String] = []
        var member = object + 1
        for _ in 0..<tape[object].count {
            if let name = tape.string(tape[member]), !names.contains(name) { names.append(name) }
            member = Int(tape[member + 1].next)
        }
        return names.compactMap { Key(stringValue: $0) }
    }

    func contains(_ key: Key) -> Bool { find(key) != nil }

    func decodeNil(forKey key: Key) throws -> Bool { decoder.isNull(at: try value(key)) }
    func decode(_ type: Bool.Type, forKey key: Key) throws -> Bool { try decoder.bool(at: try value(key)) }
    func decode(_ type: String.Type, forKey key: Key) throws -> String { try decoder.string(at: try value(key)) }
    func decode(_ type: Double.Type, forKey key: Key) throws -> Double { try decoder.double(at: try value(key)) }
    func decode(_ type: Float.Type, forKey key: Key) throws -> Float { throw JSONTapeFallback() }
    func decode(_ type: Int.Type, forKey key: Key) throws -> Int { try integer(key) }
    func decode(_ type: Int8.Type, forKey key: Key) throws -> Int8 { try integer(key) }
    func decode(_ type: Int16.Type, forKey key: Key) throws -> Int16 { try integer(key) }
    func decode(_ type: Int32.Type, forKey key: Key) throws -> Int32 { try integer(key) }
    func decode(_ type: Int64.Type, forKey key: Key) throws -> Int64 { try integer(key) }
    func decode(_ type: UInt.Type, forKey key: Key) throws -> UInt { try integer(key) }
    func decode(_ type: UInt8.Type, forKey key: Key) throws -> UInt8 { try integer(key) }
    func decode(_ type: UInt16.Type, forKey key: Key) throws -> UInt16 { try integer(key) }
    func decode(_ type: UInt32.Type, forKey key: Key) throws -> UInt32 { try integer(key) }
    func decode(_ type: UInt64.Type, forKey key: Key) throws -> UInt64 { try integer(key) }

    private func integer<T: FixedWidthInteger>(_ key: Key) throws -> T {
        try decoder.integer(at: try value(key), as: T.self)
    }

    func decode<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T {
        let index = try value(key)
        return try decoder.with(key: key) { try decoder.decodeValue(T.self, at: index) }
    }

    func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type,
                                               forKey key: Key) throws -> KeyedDecodingContainer<NestedKey> {
        let index = try value(key)
        guard decoder.tape[index].kind == .object, decoder.tape[index].count <= 64 else { throw JSONTapeFallback() }
        return KeyedDecodingContainer(TapeKeyedContainer<NestedKey>(decoder: decoder, object: index, codingPath: codingPath + [key]))
    }

    func nestedUnkeyedContainer(forKey key: Key) throws -> any UnkeyedDecodingContainer {
        let index = try value(key)
        guard decoder.tape[index].kind == .array else { throw JSONTapeFallback() }
        return TapeUnkeyedContainer(decoder: decoder, array: index, codingPath: codingPath + [key])
    }

    func superDecoder() throws -> any Decoder { throw JSONTapeFallback() }
    func superDecoder(forKey key: Key) throws -> any Decoder { throw JSONTapeFallback() }
}

struct TapeUnkeyedContainer: UnkeyedDecodingContainer {
    let decoder: TapeJSONDecoder
    let codingPath: [any CodingKey]
    let count: Int?
    private(set) var currentIndex = 0
    /// The next element's node.
    private var node: Int

    init(decoder: TapeJSONDecoder, array: Int, codingPath: [any CodingKey]) {
        self.decoder = decoder
        self.codingPath = codingPath
        self.count = Int(decoder.tape[array].count)
        self.node = array + 1
    }

    var isAtEnd: Bool { currentIndex >= count! }

    /// The next element's node, moving past it.
    private mutating func next() throws -> Int {
        guard !isAtEnd else { throw JSONTapeFallback() }
        let index = node
        node = Int(decoder.tape[index].next)
        currentIndex += 1
        return index
    }

    mutating func decodeNil() throws -> Bool {
        guard !isAtEnd else { throw JSONTapeFallback() }
        guard decoder.isNull(at: node) else { return false }
        _ = try next()
        return true
    }

    mutating func decode(_ type: Bool.Type) throws -> Bool { try decoder.bool(at: try next()) }
    mutating func decode(_ type: String.Type) throws -> String { try decoder.string(at: try next()) }
    mutating func decode(_ type: Double.Type) throws -> Double { try decoder.double(at: try next()) }
    mutating func decode(_ type: Float.Type) throws -> Float { throw JSONTapeFallback() }
    mutating func decode(_ type: Int.Type) throws -> Int { try integer() }
    mutating func decode(_ type: Int8.Type) throws -> Int8 { try integer() }
    mutating func decode(_ type: Int16.Type) throws -> Int16 { try integer() }
    mutating func decode(_ type: Int32.Type) throws -> Int32 { try integer() }
    mutating func decode(_ type: Int64.Type) throws -> Int64 { try integer() }
    mutating func decode(_ type: UInt.Type) throws -> UInt { try integer() }
    mutating func decode(_ type: UInt8.Type) throws -> UInt8 { try integer() }
    mutating func decode(_ type: UInt16.Type) throws -> UInt16 { try integer() }
    mutating func decode(_ type: UInt32.Type) throws -> UInt32 { try integer() }
    mutating func decode(_ type: UInt64.Type) throws -> UInt64 { try integer() }

    private mutating func integer<T: FixedWidthInteger>() throws -> T {
        try decoder.integer(at: try next(), as: T.self)
    }

    mutating func decode<T: Decodable>(_ type: T.Type) throws -> T {
        let position = currentIndex
        let index = try next()
        return try decoder.with(key: JSONIndexKey(index: position)) { try decoder.decodeValue(T.self, at: index) }
    }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type) throws -> KeyedDecodingContainer<NestedKey> {
        let position = currentIndex
        let index = try next()
        guard decoder.tape[index].kind == .object, decoder.tape[index].count <= 64 else { throw JSONTapeFallback() }
        return KeyedDecodingContainer(TapeKeyedContainer<NestedKey>(
            decoder: decoder, object: index, codingPath: codingPath + [JSONIndexKey(index: position)]))
    }

    mutating func nestedUnkeyedContainer() throws -> any UnkeyedDecodingContainer {
        let position = currentIndex
        let index = try next()
        guard decoder.tape[index].kind == .array else { throw JSONTapeFallback() }
        return TapeUnkeyedContainer(decoder: decoder, array: index, codingPath: codingPath + [JSONIndexKey(index: position)])
    }

    mutating func superDecoder() throws -> any Decoder { throw JSONTapeFallback() }
}

struct TapeSingleValueContainer: SingleValueDecodingContainer {
    let decoder: TapeJSONDecoder
    let node: Int
    let codingPath: [any CodingKey]

    func decodeNil() -> Bool { decoder.isNull(at: node) }
    func decode(_ type: Bool.Type) throws -> Bool { try decoder.bool(at: node) }
    func decode(_ type: String.Type) throws -> String { try decoder.string(at: node) }
    func decode(_ type: Double.Type) throws -> Double { try decoder.double(at: node) }
    func decode(_ type: Float.Type) throws -> Float { throw JSONTapeFallback() }
    func decode(_ type: Int.Type) throws -> Int { try decoder.integer(at: node, as: Int.self) }
    func decode(_ type: Int8.Type) throws -> Int8 { try decoder.integer(at: node, as: Int8.self) }
    func decode(_ type: Int16.Type) throws -> Int16 { try decoder.integer(at: node, as: Int16.self) }
    func decode(_ type: Int32.Type) throws -> Int32 { try decoder.integer(at: node, as: Int32.self) }
    func decode(_ type: Int64.Type) throws -> Int64 { try decoder.integer(at: node, as: Int64.self) }
    func decode(_ type: UInt.Type) throws -> UInt { try decoder.integer(at: node, as: UInt.self) }
    func decode(_ type: UInt8.Type) throws -> UInt8 { try decoder.integer(at: node, as: UInt8.self) }
    func decode(_ type: UInt16.Type) throws -> UInt16 { try decoder.integer(at: node, as: UInt16.self) }
    func decode(_ type: UInt32.Type) throws -> UInt32 { try decoder.integer(at: node, as: UInt32.self) }
    func decode(_ type: UInt64.Type) throws -> UInt64 { try decoder.integer(at: node, as: UInt64.self) }
    func decode<T: Decodable>(_ type: T.Type) throws -> T { try decoder.decodeValue(T.self, at: node) }
}
