import ArgumentParser
import Foundation
import ServerCore

/// gatewayctl: the admin listener's client. Exit codes: 0 done, 1 refused
/// or failed (the reason printed), 2 the daemon could not be reached.
@main
struct Gatewayctl: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gatewayctl",
        abstract: "Query and control a running gatewayd through its admin listener.",
        discussion: "Exit status: 0 done, 1 refused or failed, 2 cannot reach the daemon.",
        subcommands: [Status.self, Watch.self, Reload.self, Scale.self, Stop.self, ReopenLogs.self, Dump.self])

    /// `gatewayctl --socket unix:PATH status` works as well as
    /// `gatewayctl status --socket unix:PATH`: options given before the verb
    /// are moved after it, where the verb's parser reads them.
    static func main() {
        var args = Array(CommandLine.arguments.dropFirst())
        let verbs = configuration.subcommands.map { $0._commandName }
        // `gatewayctl help dump` (what --help suggests) is ArgumentParser's own.
        if args.first != "help", let v = args.firstIndex(where: { verbs.contains($0) }), v > 0 {
            let before = args[..<v]
            args = [args[v]] + Array(before) + Array(args[(v + 1)...])
        }
        do {
            var command = try parseAsRoot(args)
            try command.run()
        } catch {
            // A usage error is a refusal (exit 1): ArgumentParser's own 64
            // is outside the documented 0/1/2.
            if exitCode(for: error) == .validationFailure {
                FileHandle.standardError.write(Data((fullMessage(for: error) + "\n").utf8))
                Foundation.exit(1)
            }
            exit(withError: error)
        }
    }
}

struct Connection: ParsableArguments {
    @Option(name: .long, help: "unix:PATH or HOST:PORT (TCP serves the read-only verbs only).")
    var socket: String?

    @Option(name: [.customShort("c"), .long], help: "The config whose admin_bind to use.")
    var config = "/etc/gatewayd.conf"

    /// The first unix admin address (control needs one), else the first.
    func client() throws -> AdminClient {
        if let socket { return AdminClient(target: try AdminClient.parse(socket)) }
        let c: Config
        do {
            c = try ConfigLoader.load(path: config)
        } catch {
            throw Failure.unreachable("cannot read \(config): \(error)")
        }
        guard let address = c.adminBind.first(where: { $0.hasPrefix("unix:") }) ?? c.adminBind.first else {
            throw Failure.unreachable("\(config) sets no admin_bind: the admin listener is off")
        }
        return AdminClient(target: try AdminClient.parse(address))
    }

    func call(_ method: String, _ path: String, timeout: Int = 10) throws -> AdminClient.Response {
        do {
            return try client().request(method, path, timeoutSeconds: timeout)
        } catch let e as AdminClient.Unreachable {
            throw Failure.unreachable(e.description)
        }
    }
}

enum Failure: Error {
    case unreachable(String)
    case refused(String)

    static func report(_ r: AdminClient.Response) throws {
        guard r.status == 200 else {
            throw Failure.refused("\(r.status): \(reason(r.body))")
        }
    }

    static func reason(_ body: String) -> String {
        if let data = body.data(using: .utf8), let o = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
           let reason = o["reason"] as? String {
            return reason
        }
        return body.trimmingCharacters(in: .whitespacesAndNewlines)
    }
}

/// Runs `body`, mapping failures to the exit codes.
func run(_ body: () throws -> Void) throws {
    do {
        try body()
    } catch let f as Failure {
        switch f {
        case let .unreachable(why):
            FileHandle.standardError.write(Data("gatewayctl: \(why)\n".utf8))
            throw ExitCode(2)
        case let .refused(why):
            FileHandle.standardError.write(Data("gatewayctl: \(why)\n".utf8))
            throw ExitCode(1)
        }
    }
}

func statusObject(_ c: Connection) throws -> (String, [String: Any]) {
    let r = try c.call("GET", "/status")
    try Failure.report(r)
    guard let o = try? JSONSerialization.jsonObject(with: Data(r.body.utf8)) as? [String: Any] else {
        throw Failure.refused("/status is not JSON")
    }
    return (r.body, o)
}

struct Status: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Master, generation, listeners and one row per worker.")
    @OptionGroup var connection: Connection
    @Flag(help: "Print /status as it is (JSON).") var json = false

    func run() throws {
        try gatewayctl.run {
            let (raw, o) = try statusObject(connection)
            print(json ? raw.trimmingCharacters(in: .whitespacesAndNewlines) : StatusTable.render(o), terminator: json ? "\n" : "")
        }
    }
}

struct Watch: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "The status table, refreshed every second (Ctrl-C ends).")
    @OptionGroup var connection: Connection
    @Option(help: "Seconds between refreshes.") var interval: Double = 1

    func run() throws {
        try gatewayctl.run {
            while true {
                let (_, o) = try statusObject(connection)
                print("\u{1B}[H\u{1B}[2J" + StatusTable.render(o), terminator: "")
                fflush(stdout)
                usleep(useconds_t(max(0.1, interval) * 1_000_000))
            }
        }
    }
}

struct Reload: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Reload and wait: promoted with the new generation, or abandoned with the reason.")
    @OptionGroup var connection: Connection

    func run() throws {
        try gatewayctl.run {
            let r = try connection.call("POST", "/reload", timeout: 300)
            try Failure.report(r)
            let o = (try? JSONSerialization.jsonObject(with: Data(r.body.utf8))) as? [String: Any]
            print("reload promoted: generation \(o?["generation"] ?? "?") serves")
        }
    }
}

struct Scale: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Set the number of workers.")
    @OptionGroup var connection: Connection
    @Argument(help: "Workers (1 to 1024).") var workers: Int

    func run() throws {
        try gatewayctl.run {
            try Failure.report(try connection.call("POST", "/scale?workers=\(workers)"))
            print("scaled to \(workers) workers")
        }
    }
}

struct Stop: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Graceful stop (in-flight requests finish); --fast for a fast one.")
    @OptionGroup var connection: Connection
    @Flag(help: "Fast shutdown (as SIGINT).") var fast = false

    func run() throws {
        try gatewayctl.run {
            try Failure.report(try connection.call("POST", fast ? "/stop?fast" : "/stop"))
            print(fast ? "fast shutdown begun" : "graceful shutdown begun")
        }
    }
}

struct ReopenLogs: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "reopen-logs", abstract: "Reopen the log files (after rotation).")
    @OptionGroup var connection: Connection

    func run() throws {
        try gatewayctl.run {
            try Failure.report(try connection.call("POST", "/reopen-logs"))
            print("log files reopened")
        }
    }
}

struct Dump: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print where a worker is (its stack: Python threads, or a native backtrace), without stopping it.",
        discussion: "The same lines go to the error log. A native frame reads MODULE OFFSET; addr2line -f -e MODULE OFFSET names its function and line.")
    @OptionGroup var connection: Connection
    @Argument(help: "The worker's pid (gatewayctl status lists them).") var pid: Int32

    func run() throws {
        try gatewayctl.run {
            let r = try connection.call("POST", "/dump?worker=\(pid)")
            try Failure.report(r)
            print(r.body, terminator: r.body.hasSuffix("\n") ? "" : "\n")
        }
    }
}
