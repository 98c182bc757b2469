import Logging
import ServerCore

/// Opens the listeners of a config: inherited ones first (socket
/// activation: LISTEN_FDS), then binds the rest.
public enum ListenerSet {
    public static func open(config: Config, inherited fds: [(fd: Int32, name: String)], logger: Logger) throws -> [Listener] {
        let inherited = fds.map { Listener.inherited(fd: $0.fd, name: $0.name) }
        let names = fds.map { $0.name }
        var result: [Listener] = []
        var used = Set<Int32>()
        let entries = try config.bind.map { try ListenProtocol.parse($0) }
        let addresses = entries.map(\.1)
        let selectsByName = addresses.contains { if case .inherited = $0 { return true }; return false }
        for (proto, address) in entries {
            let before = result.count
            defer { if result.count > before { result[before].proto = proto } }
            if case let .inherited(name) = address {
                guard let i = inherited.indices.first(where: { names[$0] == name || String($0) == name }) else {
                    throw ListenError.noInheritedSocket(address: "\(address)")
                }
                if used.insert(inherited[i].fd).inserted { result.append(inherited[i]) }
                continue
            }
            if let match = inherited.first(where: { $0.address == address }) {
                if used.insert(match.fd).inserted { result.append(match) }
                continue
            }
            var l = try Listener.bind(address, backlog: config.backlog, unixMode: config.unixSocketMode)
            l.proto = proto
            logger.info("listening on \(l.label)")
            result.append(l)
        }
        if !selectsByName {
            for l in inherited where !used.contains(l.fd) {
                used.insert(l.fd)
                result.append(l)
            }
        }
        for l in inherited where used.contains(l.fd) {
            logger.info("serving on inherited socket fd \(l.fd) (\(result.first { $0.fd == l.fd }?.label ?? "\(l.address)"))")
        }
        for l in inherited where !used.contains(l.fd) {
            logger.info("inherited socket fd \(l.fd) (\(l.address)) not selected by bind: closed")
            l.close()
        }
        return result
    }
}
