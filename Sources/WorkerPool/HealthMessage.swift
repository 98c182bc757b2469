/// One fixed-size message on a worker's health channel (a SOCK_SEQPACKET
/// pair, so each send is one message and EOF means the peer died).
public struct HealthMessage: Equatable {
    public enum Kind: UInt8 { case booted = 1, bootFailed = 2, heartbeat = 3, exiting = 4 }
    public enum ExitReason: UInt8, CustomStringConvertible {
        case none = 0, maxRequests = 1, memoryLimit = 2, shutdown = 3, masterGone = 4
        /// threads > 1: a request of one of its app threads timed out and
        /// the worker retires (finishes its other requests, then exits).
        case threadTimeout = 5
        public var description: String {
            switch self {
            case .none: return "none"
            case .maxRequests: return "max_requests reached"
            case .memoryLimit: return "max_worker_memory exceeded"
            case .shutdown: return "shutdown"
            case .masterGone: return "master gone"
            case .threadTimeout: return "a request of an app thread timed out"
            }
        }
    }

    public static let size = 256
    static let textSize = 200

    public var kind: Kind
    public var exitReason: ExitReason = .none
    public var abiVersion: UInt32 = 0
    public var pid: Int32 = 0
    public var requests: UInt64 = 0
    public var bytesIn: UInt64 = 0
    public var bytesOut: UInt64 = 0
    /// Unique set size (private pages) in KiB.
    public var ussKB: UInt64 = 0
    /// Proportional set size in KiB.
    public var pssKB: UInt64 = 0
    /// App name (booted) or failure reason (bootFailed), at most 200 bytes.
    public var text: String = ""

    public init(kind: Kind) { self.kind = kind }

    // Layout (little-endian): 0 kind, 1 exit reason, 2 text length,
    // 4 ABI version, 8 pid, 16 requests, 24 bytes in, 32 bytes out,
    // 40 USS, 48 PSS (to 55), 56..<256 text.
    static let textLengthOffset = 2
    static let textOffset = 56

    public func encode() -> [UInt8] {
        var b = [UInt8](repeating: 0, count: Self.size)
        b[0] = kind.rawValue
        b[1] = exitReason.rawValue
        put(&b, 4, UInt64(abiVersion), 4)
        put(&b, 8, UInt64(UInt32(bitPattern: pid)), 4)
        put(&b, 16, requests, 8)
        put(&b, 24, bytesIn, 8)
        put(&b, 32, bytesOut, 8)
        put(&b, 40, ussKB, 8)
        put(&b, 48, pssKB, 8)
        let t = Self.truncated(text)
        b[Self.textLengthOffset] = UInt8(t.count)
        for (i, x) in t.enumerated() { b[Self.textOffset + i] = x }
        return b
    }

    public static func decode(_ b: [UInt8]) -> HealthMessage? {
        guard b.count == size, let kind = Kind(rawValue: b[0]) else { return nil }
        var m = HealthMessage(kind: kind)
        m.exitReason = ExitReason(rawValue: b[1]) ?? .none
        m.abiVersion = UInt32(get(b, 4, 4))
        m.pid = Int32(bitPattern: UInt32(get(b, 8, 4)))
        m.requests = get(b, 16, 8)
        m.bytesIn = get(b, 24, 8)
        m.bytesOut = get(b, 32, 8)
        m.ussKB = get(b, 40, 8)
        m.pssKB = get(b, 48, 8)
        let n = min(Int(b[textLengthOffset]), textSize)
        m.text = String(decoding: b[textOffset..<(textOffset + n)], as: UTF8.self)
        return m
    }

    /// At most `textSize` bytes of UTF-8, cut on a character boundary.
    static func truncated(_ text: String) -> [UInt8] {
        var bytes: [UInt8] = []
        for ch in text {
            let u = Array(String(ch).utf8)
            if bytes.count + u.count > textSize { break }
            bytes += u
        }
        return bytes
    }

    func put(_ b: inout [UInt8], _ at: Int, _ v: UInt64, _ n: Int) {
        for i in 0..<n { b[at + i] = UInt8(truncatingIfNeeded: v >> (8 * UInt64(i))) }
    }

    static func get(_ b: [UInt8], _ at: Int, _ n: Int) -> UInt64 {
        var v: UInt64 = 0
        for i in 0..<n { v |= UInt64(b[at + i]) << (8 * UInt64(i)) }
        return v
    }
}
