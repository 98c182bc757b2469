#if canImport(Glibc)
import Glibc
#endif

/// Signal numbers and names, so the state machine needs no libc.
public enum Signals {
    public static let hup = SIGHUP, int = SIGINT, quit = SIGQUIT, kill = SIGKILL, term = SIGTERM
    public static let usr1 = SIGUSR1, usr2 = SIGUSR2, chld = SIGCHLD, ttin = SIGTTIN, ttou = SIGTTOU
    public static let abrt = SIGABRT, segv = SIGSEGV, pipe = SIGPIPE, winch = SIGWINCH

    public static func name(_ s: Int32) -> String {
        switch s {
        case SIGHUP: return "SIGHUP"
        case SIGINT: return "SIGINT"
        case SIGQUIT: return "SIGQUIT"
        case SIGILL: return "SIGILL"
        case SIGTRAP: return "SIGTRAP"
        case SIGABRT: return "SIGABRT"
        case SIGBUS: return "SIGBUS"
        case SIGFPE: return "SIGFPE"
        case SIGKILL: return "SIGKILL"
        case SIGUSR1: return "SIGUSR1"
        case SIGSEGV: return "SIGSEGV"
        case SIGUSR2: return "SIGUSR2"
        case SIGPIPE: return "SIGPIPE"
        case SIGALRM: return "SIGALRM"
        case SIGTERM: return "SIGTERM"
        case SIGCHLD: return "SIGCHLD"
        case SIGTTIN: return "SIGTTIN"
        case SIGTTOU: return "SIGTTOU"
        case SIGXCPU: return "SIGXCPU"
        case SIGXFSZ: return "SIGXFSZ"
        case SIGSYS: return "SIGSYS"
        default: return "signal \(s)"
        }
    }
}
