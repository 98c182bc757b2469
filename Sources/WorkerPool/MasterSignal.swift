#if canImport(Glibc)
import Glibc
#endif
import CSupport

/// The signals the master acts on. The cases are the list it catches, and
/// the loop's switch over them has no default: a signal added here is not
/// caught until it is handled (SIGNALS.md is the operator's table).
enum MasterSignal: CaseIterable {
    case hup, int, quit, term, usr1, usr2, chld, ttin, ttou, winch
    /// From the old master of a binary upgrade: systemd was told that this
    /// master is MAINPID (not for operators).
    case handOver

    var number: Int32 {
        switch self {
        case .hup: return SIGHUP
        case .int: return SIGINT
        case .quit: return SIGQUIT
        case .term: return SIGTERM
        case .usr1: return SIGUSR1
        case .usr2: return SIGUSR2
        case .chld: return SIGCHLD
        case .ttin: return SIGTTIN
        case .ttou: return SIGTTOU
        case .winch: return SIGWINCH
        case .handOver: return gw_handover_signal()
        }
    }

    init?(number: Int32) {
        guard let s = Self.allCases.first(where: { $0.number == number }) else { return nil }
        self = s
    }

    var name: String { Signals.name(number) }
}
