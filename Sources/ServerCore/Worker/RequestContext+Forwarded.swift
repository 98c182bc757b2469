#if canImport(Glibc)
import Glibc
#endif

/// The forwarded headers of the current request, as ForwardedHeaders decides
/// them for this connection's peer. Environ's addRemote() and the scheme of
/// the environ read these.
extension RequestContext {
    var forwarded: ForwardedHeaders {
        ForwardedHeaders(head: head, buffer: UnsafePointer(connection.buffer), policy: forwardedPolicy, peer: peer)
    }

    var peer: ForwardedHeaders.Peer {
        if listener.isUnix { return .unix }
        let address = withUnsafePointer(to: &connection.peer) { IPAddress($0, length: connection.peerLength) }
        return address.map { .ip($0) } ?? .other
    }

    var peerIsTrusted: Bool { forwardedPolicy.trusts(peer) }

    /// The first field named `name` (lowercase), as text.
    func headerValue(_ name: StaticString) -> String? {
        let buf = UnsafePointer(connection.buffer)
        let n = name.utf8CodeUnitCount
        for i in 0..<head.fieldCount {
            let f = head.fields[i]
            if f.nameLength == n && HeadParser.equalsLower(buf, f.name, n, name) {
                return String(decoding: UnsafeBufferPointer(start: buf + f.value, count: f.valueLength), as: UTF8.self)
            }
        }
        return nil
    }

    /// https only when a trusted peer says so (secure_scheme_headers, or an
    /// absolute-form https:// target).
    var scheme: Scheme { forwarded.isSecure ? .https : .http }

    /// The client address a trusted proxy reports: the rightmost untrusted
    /// X-Forwarded-For entry, if it is a valid address; nil keeps the peer's.
    var forwardedFor: String? { forwarded.clientAddress }
}
