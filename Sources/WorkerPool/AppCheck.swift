#if canImport(Glibc)
import Glibc
#endif
import AppLoader
import ServerCore

/// `--check-config`: loads the app as a worker would (the worker's user,
/// its environment, dlopen, the symbol, the ABI, init; for WSGI the import
/// and the callable), in a throwaway child process, so that a broken app is
/// reported before it is deployed. The master's process never runs app code.
public enum AppCheck {
    public enum Outcome: Equatable {
        case loaded(name: String)
        case failed(String)
    }

    public static func run(_ config: Config) -> Outcome {
        let privileges: Privileges?
        do {
            privileges = try Privileges.resolve(user: config.user, group: config.group, allowRoot: config.allowRoot)
        } catch {
            return .failed("\(error)")
        }
        let pipe: (read: Int32, write: Int32)
        let pid: pid_t
        do {
            pipe = try Sys.pipe()
            pid = try Sys.fork()
        } catch {
            return .failed("\(error)")
        }
        if pid == 0 {
            Sys.close(pipe.read)
            let report = load(config, privileges)
            try? Sys.writeAll(pipe.write, report)
            Sys.exit(report.hasPrefix("ok ") ? 0 : 1)
        }
        Sys.close(pipe.write)
        let text = readAll(pipe.read)
        Sys.close(pipe.read)
        let status = ExitStatus(waitStatus: Sys.waitChild(pid))
        if text.hasPrefix("ok "), status.code == 0 { return .loaded(name: String(text.dropFirst(3))) }
        if text.isEmpty { return .failed("the check process \(status.description)") }
        return .failed(text)
    }

    /// In the child: "ok NAME" or the reason it failed.
    static func load(_ config: Config, _ privileges: Privileges?) -> String {
        do {
            try privileges?.drop()
            for (name, value) in config.env { try Sys.setenv(name, value) }
            let descriptor = try AppLoader.load(path: config.app)
            let identity = WorkerIdentity(id: 0, generation: 0, pid: Sys.getpid())
            let app = try AppLoader.initialize(descriptor, path: config.app, args: config.appArgs, identity: identity)
            AppLoader.shutdown(app)
            return "ok \(app.name)"
        } catch {
            return "\(error)"
        }
    }

    static func readAll(_ fd: Int32) -> String {
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while let n = try? chunk.withUnsafeMutableBytes({ try Sys.read(fd, $0.baseAddress!, 4096) }), n > 0 {
            bytes.append(contentsOf: chunk[0..<n])
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
