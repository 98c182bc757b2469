import CSupport

/// How a child ended, from waitpid's status.
public struct ExitStatus: Equatable, CustomStringConvertible {
    /// Exit code, or nil when killed by a signal.
    public let code: Int32?
    public let signal: Int32?
    public let coreDumped: Bool

    public init(code: Int32?, signal: Int32? = nil, coreDumped: Bool = false) {
        self.code = code
        self.signal = signal
        self.coreDumped = coreDumped
    }

    public init(waitStatus s: Int32) {
        if gw_wifexited(s) != 0 {
            self.init(code: gw_wexitstatus(s))
        } else {
            self.init(code: nil, signal: gw_wtermsig(s), coreDumped: gw_wcoredump(s) != 0)
        }
    }

    public var isClean: Bool { code == 0 }

    public var description: String {
        if let code { return "exited with code \(code)" }
        let name = signal.map { Signals.name($0) } ?? "?"
        return "was killed by \(name)\(coreDumped ? " (core dumped)" : "")"
    }
}
