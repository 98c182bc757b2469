#if canImport(Glibc)
import Glibc
#endif
import CSupport

/// The one formatter of socket addresses as text: "127.0.0.1" and 8000,
/// "::1" and 8000 (no brackets), for the environ, the access log and
/// inherited listeners. nil for a unix socket or an unknown family.
public enum PeerAddress {
    public static func format(_ address: UnsafePointer<sockaddr_storage>, _ length: socklen_t) -> (host: String, port: Int)? {
        var host = [CChar](repeating: 0, count: 64)
        let port = gw_format_addr(address, length, &host, 64)
        guard port >= 0 else { return nil }
        return (String(cString: host), Int(port))
    }
}

extension Connection {
    /// The client's address and port; nil for a unix-socket peer.
    var peerAddress: (host: String, port: Int)? {
        withUnsafePointer(to: &peer) { PeerAddress.format($0, peerLength) }
    }
}
