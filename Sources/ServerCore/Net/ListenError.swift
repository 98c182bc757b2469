/// Why a listen address could not be opened when no system call failed
/// with an errno: the name did not resolve, or no inherited socket has it.
public enum ListenError: Error, CustomStringConvertible, Equatable {
    /// getaddrinfo() refused the host (its own error text, not an errno).
    case cannotResolve(address: String, reason: String)
    /// bind names a socket systemd (or an old master) did not pass.
    case noInheritedSocket(address: String)

    public var description: String {
        switch self {
        case let .cannotResolve(address, reason):
            return "getaddrinfo() for \(address) failed: \(reason)"
        case let .noInheritedSocket(address):
            return "bind \"\(address)\": no inherited socket of that name (LISTEN_FDNAMES)"
        }
    }
}
