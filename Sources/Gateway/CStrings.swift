// Converting Swift strings to the C strings and gateway_pair arrays of the
// ABI. The per-call conversions use stack memory (withUnsafeTemporaryAllocation
// falls back to the heap only for large header sets); StaticHeaders uses
// the same packing once, into a buffer it owns.
enum CStrings {
    /// The bytes `strings` take as NUL-terminated C strings.
    static func byteCount<S: Sequence<String>>(_ strings: S) -> Int {
        strings.reduce(0) { $0 + $1.utf8.count + 1 }
    }

    /// Copies `string` and a NUL to `destination`; returns the byte after.
    /// One memcpy of the contiguous UTF-8 (a loop over `utf8` cost about
    /// 40 instructions a byte, measured on an error response's head).
    static func copy(_ string: String, to destination: UnsafeMutablePointer<CChar>) -> UnsafeMutablePointer<CChar> {
        var string = string
        return string.withUTF8 { utf8 in
            if let base = utf8.baseAddress {
                UnsafeMutableRawPointer(destination).copyMemory(from: base, byteCount: utf8.count)
            }
            destination[utf8.count] = 0
            return destination + utf8.count + 1
        }
    }

    /// Packs `headers` into `pairs`, their strings into `bytes` (sized with
    /// `byteCount`); returns the first unused byte.
    static func pack(_ headers: Headers, into pairs: UnsafeMutablePointer<gateway_pair>,
                     bytes: UnsafeMutablePointer<CChar>) -> UnsafeMutablePointer<CChar> {
        var cursor = bytes
        for (index, field) in headers.enumerated() {
            let name = cursor
            cursor = copy(field.name, to: cursor)
            let value = cursor
            cursor = copy(field.value, to: cursor)
            (pairs + index).initialize(to: gateway_pair(name: name, value: value))
        }
        return cursor
    }

    /// Calls `body` with `headers` as a gateway_pair array valid during the call.
    static func withPairs<R>(_ headers: Headers,
                             _ body: (UnsafeBufferPointer<gateway_pair>) throws -> R) rethrows -> R {
        try withPairs(UnsafeBufferPointer(start: nil, count: 0), appending: headers, body)
    }

    /// Calls `body` with `base` followed by `extra` as one gateway_pair array.
    static func withPairs<R>(_ base: UnsafeBufferPointer<gateway_pair>, appending extra: Headers,
                             _ body: (UnsafeBufferPointer<gateway_pair>) throws -> R) rethrows -> R {
        let total = base.count + extra.count
        // (summed in place: a flatMap into arrays allocated two per field)
        let bytes = extra.reduce(0) { $0 + $1.name.utf8.count + $1.value.utf8.count + 2 }
        return try withUnsafeTemporaryAllocation(of: gateway_pair.self, capacity: max(total, 1)) { pairs in
            try withUnsafeTemporaryAllocation(of: CChar.self, capacity: max(bytes, 1)) { chars in
                let first = pairs.baseAddress!
                if let baseStart = base.baseAddress, base.count > 0 {
                    first.initialize(from: baseStart, count: base.count)
                }
                _ = pack(extra, into: first + base.count, bytes: chars.baseAddress!)
                return try body(UnsafeBufferPointer(start: first, count: total))
            }
        }
    }

    /// Copies `message` into a C buffer of `size` bytes (with the NUL),
    /// truncating at a UTF-8 character boundary; nothing when size is 0.
    static func copy(_ message: String, into buffer: UnsafeMutablePointer<CChar>?, size: Int) {
        guard let buffer, size > 0 else { return }
        let utf8 = Array(message.utf8.prefix(size))
        var length = min(utf8.count, size - 1)
        if length < utf8.count {
            while length > 0 && utf8[length] & 0xC0 == 0x80 { length -= 1 }
        }
        for index in 0..<length { buffer[index] = CChar(bitPattern: utf8[index]) }
        buffer[length] = 0
    }
}
