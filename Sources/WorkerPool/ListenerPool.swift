import Logging
import ServerCore

/// The master's open listening sockets, shared across generations: a reload
/// reuses a socket whose address it still binds (nothing is re-bound, no
/// connection is refused), opens new addresses before the new workers
/// start, and closes the removed ones after the swap.
final class ListenerPool {
    private(set) var all: [Listener] = []
    /// FileDescriptorName of inherited sockets, by fd.
    var inheritedNames: [Int32: String] = [:]
    /// After a binary upgrade hand-off, unix socket paths belong to the new master.
    var handedOff = false

    /// The first set: inherited sockets (socket activation) and binds.
    func openInitial(config: Config, logger: Logger) throws -> [Listener] {
        let fds = SystemdNotifier.listenFDs()
        if let why = SystemdNotifier.unavailable {
            logger.warning("systemd: NOTIFY_SOCKET, WATCHDOG_USEC or LISTEN_FDS is set but libsystemd cannot be loaded (\(why)): no sd_notify, watchdog or inherited sockets")
        }
        for f in fds { inheritedNames[f.fd] = f.name }
        let opened = try ListenerSet.open(config: config, inherited: fds, logger: logger)
        all = opened
        return opened
    }

    /// The listeners `config` wants, reusing open ones.
    func resolve(config: Config, logger: Logger) throws -> [Listener] {
        var result: [Listener] = []
        var opened: [Listener] = []
        do {
            for text in config.bind {
                let (proto, address) = try ListenProtocol.parse(text)
                if var l = find(address) {
                    l.proto = proto
                    if !result.contains(where: { $0.fd == l.fd }) { result.append(l) }
                    continue
                }
                if case .inherited = address {
                    throw ListenError.noInheritedSocket(address: "\(address)")
                }
                var l = try Listener.bind(address, backlog: config.backlog, unixMode: config.unixSocketMode)
                l.proto = proto
                logger.info("listening on \(l.label)")
                opened.append(l)
                result.append(l)
            }
        } catch {
            for l in opened { l.close() }
            throw error
        }
        all += opened
        return result
    }

    func find(_ address: ListenAddress) -> Listener? {
        if case let .inherited(name) = address {
            return all.first { l in inheritedNames[l.fd] == name || (inheritedNames[l.fd] != nil && String(l.fd - 3) == name) }
        }
        return all.first { $0.address == address }
    }

    /// Closes every listener not in `keep`.
    func retain(_ keep: [Listener], logger: Logger) {
        for l in all where !keep.contains(where: { $0.fd == l.fd }) {
            logger.info("closing listener \(l.label)")
            close(l)
        }
        all = all.filter { l in keep.contains { $0.fd == l.fd } }
    }

    func closeAll() {
        for l in all { close(l) }
        all = []
    }

    private func close(_ l: Listener) {
        if handedOff { Sys.close(l.fd) } else { l.close() }
    }
}
