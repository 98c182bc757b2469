/// What a request's forwarded headers say about its client, believed only
/// from a trusted peer (forwarded_allow_ips). Pure: it reads the parsed head,
/// the buffer the head points into, the policy and the peer, so the decisions
/// are unit-tested without a socket.
///
/// - REMOTE_ADDR: X-Forwarded-For is one field over all its lines, in order
///   (RFC 9110 §5.3); each proxy appends the address it saw, so only the
///   right end is true. The rightmost entry that is not a trusted proxy is
///   the client, if it is a valid IPv4/IPv6 address; anything else (a port,
///   "unknown", garbage) keeps the peer's address rather than guess further
///   left, where the client writes what it likes.
/// - The scheme: https only when a trusted peer says so, by one of the
///   secure_scheme_headers (Gunicorn's) or by an absolute-form https:// target.
public struct ForwardedHeaders {
    public enum Peer: Equatable {
        case unix
        case ip(IPAddress)
        case other
    }

    /// forwarded_allow_ips and secure_scheme_headers, read once per worker.
    public struct Policy {
        /// "*": every peer is trusted (the entries of X-Forwarded-For are still
        /// skipped only when they are listed addresses).
        let anyPeer: Bool
        /// "unix": peers on a unix socket are trusted.
        let unixPeers: Bool
        /// Addresses and networks (forwarded_allow_ips "10.0.0.0/8").
        let proxies: [IPNetwork]
        /// Names lowercased; a request is https when such a field has the value.
        let secureHeaders: [(name: [UInt8], value: [UInt8])]

        public init(trusted: [String], secureSchemeHeaders: [(name: String, value: String)] = Config.defaultSecureSchemeHeaders) {
            anyPeer = trusted.contains("*")
            unixPeers = trusted.contains("unix")
            proxies = trusted.compactMap { IPNetwork($0) }
            secureHeaders = secureSchemeHeaders.map { (Array($0.name.lowercased().utf8), Array($0.value.utf8)) }
        }

        /// Whether `a` is one of the trusted proxies (an address or in a network).
        public func isProxy(_ a: IPAddress) -> Bool {
            proxies.contains { $0.contains(a) }
        }

        public func trusts(_ peer: Peer) -> Bool {
            if anyPeer { return true }
            switch peer {
            case .unix: return unixPeers
            case .ip(let a): return isProxy(a)
            case .other: return false
            }
        }
    }

    let head: RequestHead
    let buf: UnsafePointer<UInt8>
    let policy: Policy
    let peer: Peer

    public init(head: RequestHead, buffer: UnsafePointer<UInt8>, policy: Policy, peer: Peer) {
        self.head = head
        self.buf = buffer
        self.policy = policy
        self.peer = peer
    }

    public var peerIsTrusted: Bool { policy.trusts(peer) }

    /// The client's address for REMOTE_ADDR, or nil to keep the peer's.
    public var clientAddress: String? {
        guard peerIsTrusted else { return nil }
        var found: (start: Int, length: Int)?
        var i = head.fieldCount - 1
        while i >= 0 {
            let f = head.fields[i]
            i -= 1
            guard named(f, "x-forwarded-for") else { continue }
            // entries from the right: the last comma-separated element first
            var end = f.value + f.valueLength
            while true {
                var start = end
                while start > f.value && buf[start - 1] != 0x2C { start -= 1 }
                let (s, n) = trimmed(start, end - start)
                if n > 0 {
                    guard let address = IPAddress(buf + s, n) else { return nil }
                    found = (s, n)
                    if !policy.isProxy(address) { return text(s, n) }
                }
                if start == f.value { break }
                end = start - 1
            }
        }
        // Every entry was a trusted proxy: the leftmost is the client.
        return found.map { text($0.start, $0.length) }
    }

    /// Whether the request came over https, as a trusted peer says.
    public var isSecure: Bool {
        guard peerIsTrusted else { return false }
        var said: Bool?
        for h in policy.secureHeaders {
            for i in 0..<head.fieldCount where named(head.fields[i], h.name) {
                let f = head.fields[i]
                let secure = f.valueLength == h.value.count && equalsLower(f.value, h.value)
                // Headers (or lines) that disagree: not https.
                said = (said ?? true) && secure
            }
        }
        if let said { return said }
        return head.authority >= 0 && head.authority - head.target == 8
    }

    // MARK: bytes

    func named(_ f: RequestHead.Field, _ lowercased: StaticString) -> Bool {
        f.nameLength == lowercased.utf8CodeUnitCount && HeadParser.equalsLower(buf, f.name, f.nameLength, lowercased)
    }

    func named(_ f: RequestHead.Field, _ lowercased: [UInt8]) -> Bool {
        f.nameLength == lowercased.count && equalsLower(f.name, lowercased)
    }

    func equalsLower(_ at: Int, _ literal: [UInt8]) -> Bool {
        for k in 0..<literal.count where CharClass.lower(buf[at + k]) != CharClass.lower(literal[k]) { return false }
        return true
    }

    func trimmed(_ s: Int, _ n: Int) -> (Int, Int) {
        var s = s, e = s + n
        while s < e && (buf[s] == 0x20 || buf[s] == 0x09) { s += 1 }
        while e > s && (buf[e - 1] == 0x20 || buf[e - 1] == 0x09) { e -= 1 }
        return (s, e - s)
    }

    func text(_ s: Int, _ n: Int) -> String {
        String(decoding: UnsafeBufferPointer(start: buf + s, count: n), as: UTF8.self)
    }
}
