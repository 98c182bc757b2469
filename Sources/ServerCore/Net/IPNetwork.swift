/// An address block, "10.0.0.0/8", "fd00::/8" or one address ("127.0.0.1",
/// a /32 or /128): admin_allow's entries. IPv4 blocks match IPv4 peers
/// (held as ::ffff:a.b.c.d, so the prefix counts from bit 96).
public struct IPNetwork: Equatable, Sendable, CustomStringConvertible {
    let address: IPAddress
    /// Leading bits that must match, of the 128.
    let bits: Int
    public let description: String

    public init?(_ text: String) {
        let parts = text.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
        guard let a = IPAddress(String(parts[0])) else { return nil }
        let v4 = !parts[0].contains(":")
        let width = v4 ? 32 : 128
        var prefix = width
        if parts.count == 2 {
            guard let p = Int(parts[1]), p >= 0, p <= width, parts[1].allSatisfy(\.isASCII) else { return nil }
            prefix = p
        }
        address = a
        bits = v4 ? 96 + prefix : prefix
        description = text
    }

    public func contains(_ peer: IPAddress) -> Bool {
        Self.masked(peer, bits) == Self.masked(address, bits)
    }

    static func masked(_ a: IPAddress, _ bits: Int) -> (UInt64, UInt64) {
        // the words are in memory order: compare big-endian values
        let h = UInt64(bigEndian: a.high), l = UInt64(bigEndian: a.low)
        let hm: UInt64 = bits >= 64 ? .max : (bits == 0 ? 0 : ~(UInt64.max >> UInt64(bits)))
        let lm: UInt64 = bits <= 64 ? 0 : (bits >= 128 ? .max : ~(UInt64.max >> UInt64(bits - 64)))
        return (h & hm, l & lm)
    }
}
