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

/// Before the first fork: can the user the workers run as read what the app
/// needs? (Typically nobody and a project under /root.) Checked in a child
/// that drops to that user, so permissions, ACLs and mounts answer as they
/// will for the workers. One line naming the path and the ways out, instead
/// of every worker failing to boot in turn.
public enum AccessCheck {
    /// The paths a worker reads: the app, and for the WSGI loader its
    /// working directory, pythonpath and virtualenv.
    public static func paths(_ config: Config, workingDirectory: String) -> [(path: String, what: String)] {
        var paths: [(String, String)] = [(config.app, "the app")]
        guard config.appArgs.contains(where: { $0.name == "app" }) else { return paths }
        let arg = { (name: String) in config.appArgs.first { $0.name == name }?.value }
        paths.append((arg("chdir") ?? workingDirectory, "the app's working directory"))
        for entry in (arg("pythonpath") ?? "").split(separator: ",") {
            paths.append((String(entry).trimmingSpaces(), "a pythonpath entry"))
        }
        if let venv = arg("virtualenv"), !venv.isEmpty { paths.append((venv, "the virtualenv")) }
        return paths.filter { !$0.0.isEmpty }
    }

    /// nil when every path is readable by `privileges`' user, else the
    /// sentence to log.
    public static func problem(_ config: Config, _ privileges: Privileges?, workingDirectory: String) -> String? {
        guard let privileges else { return nil }
        let list = paths(config, workingDirectory: workingDirectory)
        guard let pipe = try? Sys.pipe(), let pid = try? Sys.fork() else { return nil }
        if pid == 0 {
            Sys.close(pipe.read)
            var index = -1
            if (try? privileges.drop()) != nil {
                // Only a refusal (EACCES) is ours to report: a missing path
                // gets its own clear error when the worker loads the app.
                index = list.firstIndex { Sys.accessDenied($0.path, read: true)
                    || (Sys.isFolder($0.path) && Sys.accessDenied($0.path, read: false)) } ?? -1
            }
            try? Sys.writeAll(pipe.write, String(index))
            Sys.exit(0)
        }
        Sys.close(pipe.write)
        let answer = AppCheck.readAll(pipe.read)
        Sys.close(pipe.read)
        _ = Sys.waitChild(pid)
        guard let i = Int(answer), i >= 0, i < list.count else { return nil }
        let (path, what) = list[i]
        return "user \(privileges.user) (the workers' user) cannot read \(path) (\(what)): "
            + "make it readable by \(privileges.user) (chmod/chown, or move it out of a private home), "
            + "or run the workers as a user who can (user = \"NAME\" or -u NAME; -u root runs them as root)"
    }
}
