/// JSON text appended to a byte buffer, as FoundationEssentials' JSONEncoder
/// (default options) writes it: strings escaped per RFC 8259 (`"`, `\`,
/// control characters; `/` as `\/`, as Foundation does by default; other
/// characters pass as UTF-8), numbers as their Swift description (a
/// floating-point value without its ".0").
///
/// A growable buffer of raw memory rather than an `[UInt8]`: an array's
/// append checks uniqueness and capacity through the runtime each time,
/// which cost more than the JSON itself (measured). Its owner calls
/// `deallocate()`.
struct JSONBytes {
    private(set) var base: UnsafeMutablePointer<UInt8>
    private(set) var count = 0
    private var capacity: Int

    init(capacity: Int) {
        self.capacity = max(capacity, 16)
        base = .allocate(capacity: self.capacity)
    }

    func deallocate() { base.deallocate() }

    var isEmpty: Bool { count == 0 }

    /// The bytes written, valid until the next append or `deallocate()`.
    var buffer: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: base, count: count) }

    @inline(__always)
    mutating func reserve(_ more: Int) {
        if count &+ more > capacity { grow(more) }
    }

    private mutating func grow(_ more: Int) {
        let fresh = UnsafeMutablePointer<UInt8>.allocate(capacity: max(capacity * 2, count + more))
        fresh.initialize(from: base, count: count)
        base.deallocate()
        base = fresh
        capacity = max(capacity * 2, count + more)
    }

    @inline(__always)
    mutating func append(_ byte: UInt8) {
        reserve(1)
        base[count] = byte
        count &+= 1
    }

    @inline(__always)
    mutating func append(_ bytes: UnsafeBufferPointer<UInt8>) {
        reserve(bytes.count)
        if let source = bytes.baseAddress { (base + count).initialize(from: source, count: bytes.count) }
        count &+= bytes.count
    }

    mutating func append(_ bytes: UnsafeRawBufferPointer) {
        append(bytes.bindMemory(to: UInt8.self))
    }

    mutating func append(_ text: StaticString) {
        append(UnsafeBufferPointer(start: text.utf8Start, count: text.utf8CodeUnitCount))
    }

    mutating func appendString(_ text: String) {
        // The UTF-8 view's storage, read in place (small strings from the
        // stack): no copy of the String, no uniqueness check.
        if text.utf8.withContiguousStorageIfAvailable({ appendEscaped($0) }) != nil { return }
        var text = text
        text.withUTF8 { appendEscaped($0) }
    }

    /// `"text"`, escaped: runs of plain bytes are copied in one go.
    mutating func appendEscaped(_ utf8: UnsafeBufferPointer<UInt8>) {
        // Room for the quotes and every byte unescaped: the common case
        // writes with no further capacity check.
        reserve(utf8.count &+ 2)
        base[count] = UInt8(ascii: "\"")
        count &+= 1
        for byte in utf8 {
            if byte >= 0x20 && byte != UInt8(ascii: "\"") && byte != UInt8(ascii: "\\") && byte != UInt8(ascii: "/") {
                base[count] = byte
                count &+= 1
            } else {
                appendEscape(byte)
            }
        }
        reserve(1)
        base[count] = UInt8(ascii: "\"")
        count &+= 1
    }

    private mutating func appendEscape(_ byte: UInt8) {
        // Leaves at least the room for one more byte per input byte left.
        reserve(7)
        append(UInt8(ascii: "\\"))
        switch byte {
        case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): append(byte)
        case 0x08: append(UInt8(ascii: "b"))
        case 0x0C: append(UInt8(ascii: "f"))
        case 0x0A: append(UInt8(ascii: "n"))
        case 0x0D: append(UInt8(ascii: "r"))
        case 0x09: append(UInt8(ascii: "t"))
        default:
            let hex: StaticString = "0123456789abcdef"
            append("u00")
            append(hex.utf8Start[Int(byte >> 4)])
            append(hex.utf8Start[Int(byte & 0xF)])
        }
    }

    mutating func appendBool(_ value: Bool) { value ? append("true") : append("false") }

    /// The decimal digits of `value`, without an intermediate String.
    mutating func appendInteger(_ value: Int64) {
        if value < 0 { append(UInt8(ascii: "-")) }
        appendInteger(value.magnitude)
    }

    mutating func appendInteger(_ value: UInt64) {
        if value < 10 { return append(UInt8(ascii: "0") &+ UInt8(truncatingIfNeeded: value)) }
        var digits: (UInt64, UInt64, UInt64) = (0, 0, 0)  // 24 bytes: room for the 20 digits of UInt64.max
        withUnsafeMutableBytes(of: &digits) { buffer in
            var magnitude = value
            var position = buffer.count
            while magnitude != 0 {
                let (quotient, remainder) = magnitude.quotientAndRemainder(dividingBy: 10)
                position &-= 1
                buffer[position] = UInt8(ascii: "0") &+ UInt8(truncatingIfNeeded: remainder)
                magnitude = quotient
            }
            append(UnsafeRawBufferPointer(rebasing: buffer[position...]))
        }
    }

    /// A finite floating-point value as Foundation writes it: the shortest
    /// description that reads back the same, "1" rather than "1.0".
    /// False (nothing written) for NaN and the infinities.
    mutating func appendFloat<T: BinaryFloatingPoint & CustomStringConvertible>(_ value: T) -> Bool {
        guard value.isFinite else { return false }
        var text = value.description
        text.withUTF8 { utf8 in
            var count = utf8.count
            if count > 2 && utf8[count - 2] == UInt8(ascii: ".") && utf8[count - 1] == UInt8(ascii: "0") { count -= 2 }
            append(UnsafeBufferPointer(rebasing: utf8[..<count]))
        }
        return true
    }
}
