/// Byte classes of RFC 9110/9112, as one 256-entry table built once.
@usableFromInline
package enum CharClass {
    package static let token: UInt8 = 1        // tchar
    package static let fieldValue: UInt8 = 2   // VCHAR / obs-text / SP / HTAB
    package static let target: UInt8 = 4       // what a request-target may hold (VCHAR, obs-text: docs/http.md)
    package static let hex: UInt8 = 8

    @usableFromInline
    package static let table: UnsafePointer<UInt8> = {
        let t = UnsafeMutablePointer<UInt8>.allocate(capacity: 256)
        t.initialize(repeating: 0, count: 256)
        let tchars = Array("!#$%&'*+-.^_`|~".utf8)
        for b in 0..<256 {
            var c: UInt8 = 0
            let isAlnum = (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A)
            if isAlnum || tchars.contains(UInt8(b)) { c |= token }
            if (b >= 0x21 && b <= 0x7E) || b >= 0x80 || b == 0x20 || b == 0x09 { c |= fieldValue }
            if (b >= 0x21 && b <= 0x7E) || b >= 0x80 { c |= target }
            if (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x46) || (b >= 0x61 && b <= 0x66) { c |= hex }
            t[b] = c
        }
        return UnsafePointer(t)
    }()

    @inline(__always) package static func isToken(_ b: UInt8) -> Bool { table[Int(b)] & token != 0 }
    // With the table loaded once by the caller: a loop over bytes then pays
    // the lazy-global check (swift_once) once, not once per byte.
    @inline(__always) package static func isToken(_ t: UnsafePointer<UInt8>, _ b: UInt8) -> Bool { t[Int(b)] & token != 0 }
    @inline(__always) package static func isFieldValue(_ t: UnsafePointer<UInt8>, _ b: UInt8) -> Bool { t[Int(b)] & fieldValue != 0 }
    @inline(__always) package static func isTarget(_ t: UnsafePointer<UInt8>, _ b: UInt8) -> Bool { t[Int(b)] & target != 0 }
    @inline(__always) package static func isFieldValue(_ b: UInt8) -> Bool { table[Int(b)] & fieldValue != 0 }
    @inline(__always) package static func isTarget(_ b: UInt8) -> Bool { table[Int(b)] & target != 0 }
    @inline(__always) package static func isHex(_ b: UInt8) -> Bool { table[Int(b)] & hex != 0 }

    @inline(__always) package static func lower(_ b: UInt8) -> UInt8 { (b >= 0x41 && b <= 0x5A) ? b | 0x20 : b }

    @inline(__always) package static func hexValue(_ b: UInt8) -> Int {
        if b <= 0x39 { return Int(b) - 0x30 }
        return Int(b | 0x20) - 0x61 + 10
    }
}
