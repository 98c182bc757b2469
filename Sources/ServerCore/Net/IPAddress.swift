#if canImport(Glibc)
import Glibc
#endif

/// An IPv4 or IPv6 address as 16 bytes (IPv4 as ::ffff:a.b.c.d), so that
/// "127.0.0.1", "::ffff:127.0.0.1" and a peer's sockaddr compare equal, and
/// "::1" equals "0:0:0:0:0:0:0:1". Text is parsed strictly by inet_pton(3):
/// no port, no brackets, no zone, no leading zeros in IPv4.
public struct IPAddress: Equatable, Hashable, Sendable {
    let high: UInt64
    let low: UInt64

    /// The longest address text: "ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255".
    static let maxTextLength = 45

    init(bytes p: UnsafeRawPointer) {
        high = p.loadUnaligned(as: UInt64.self)
        low = p.loadUnaligned(fromByteOffset: 8, as: UInt64.self)
    }

    init(ipv4 p: UnsafeRawPointer) {
        var mapped: (UInt64, UInt64) = (0, 0)
        withUnsafeMutableBytes(of: &mapped) { m in
            m[10] = 0xFF; m[11] = 0xFF
            m.baseAddress!.advanced(by: 12).copyMemory(from: p, byteCount: 4)
        }
        self.init(mapped)
    }

    init(_ words: (UInt64, UInt64)) {
        high = words.0
        low = words.1
    }

    public init?(_ text: String) {
        var text = text
        guard let a = text.withUTF8({ Self.parse($0.baseAddress, $0.count) }) else { return nil }
        self = a
    }

    /// Parses `p[0..<n]`, which need not be NUL-terminated.
    public init?(_ p: UnsafePointer<UInt8>, _ n: Int) {
        guard let a = Self.parse(p, n) else { return nil }
        self = a
    }

    /// The address of an AF_INET or AF_INET6 socket address; nil for others.
    public init?(_ storage: UnsafePointer<sockaddr_storage>, length: socklen_t) {
        let raw = UnsafeRawPointer(storage)
        switch Int32(storage.pointee.ss_family) {
        case AF_INET where length >= MemoryLayout<sockaddr_in>.size:
            self.init(ipv4: raw + MemoryLayout<sockaddr_in>.offset(of: \sockaddr_in.sin_addr)!)
        case AF_INET6 where length >= MemoryLayout<sockaddr_in6>.size:
            self.init(bytes: raw + MemoryLayout<sockaddr_in6>.offset(of: \sockaddr_in6.sin6_addr)!)
        default:
            return nil
        }
    }

    static func parse(_ p: UnsafePointer<UInt8>?, _ n: Int) -> IPAddress? {
        guard let p, n > 0, n <= maxTextLength else { return nil }
        return withUnsafeTemporaryAllocation(of: CChar.self, capacity: maxTextLength + 1) { text in
            let c = text.baseAddress!
            UnsafeMutableRawPointer(c).copyMemory(from: p, byteCount: n)
            c[n] = 0
            var out: (UInt64, UInt64) = (0, 0)
            return withUnsafeMutableBytes(of: &out) { o -> IPAddress? in
                if inet_pton(AF_INET, c, o.baseAddress) == 1 { return IPAddress(ipv4: o.baseAddress!) }
                if inet_pton(AF_INET6, c, o.baseAddress) == 1 { return IPAddress(bytes: o.baseAddress!) }
                return nil
            }
        }
    }
}
