#if canImport(Glibc)
import Glibc
#endif
import CSupport
import ServerCore

/// The worker's confinement (`sandbox`, docs/sandbox.md), in two steps,
/// both once per worker, neither on the request path:
///  - `enter`, after the drop to the app's user and before the app loads:
///    PR_SET_NO_NEW_PRIVS, the seccomp allow list (EPERM for the rest),
///    and a Landlock layer confining writes (to the temp directory, the
///    log directories, `sandbox_write_paths`) and programs run;
///  - `seal`, after the app's init returned: `execve` refused (unless
///    `sandbox_allow_exec`), and a second Landlock layer confining reads
///    to the system, the app, the libraries it loaded (its Python and that
///    Python's packages), and `sandbox_read_paths`.
/// The app's init may still run programs (the WSGI loader runs its Python
/// once to read its sysconfig) and read anywhere its user may: the paths of
/// its Python are known only once it has loaded.
public struct WorkerSandbox {
    public let config: Config
    public let workingDirectory: String
    /// The Landlock ABI, or 0 (none: the master logged it once).
    let landlock: Int32

    public struct Error: Swift.Error, CustomStringConvertible {
        public let description: String
    }

    public init(config: Config, workingDirectory: String) {
        self.config = config
        self.workingDirectory = workingDirectory
        landlock = config.sandbox ? WorkerSandbox.landlockABI().abi : 0
    }

    /// The kernel's Landlock ABI, or 0 and why there is none.
    /// GATEWAYD_LANDLOCK=off takes it as absent (the tests of the fallback,
    /// or a kernel whose Landlock misbehaves).
    public static func landlockABI() -> (abi: Int32, reason: String) {
        if Sys.environment("GATEWAYD_LANDLOCK") == "off" { return (0, "GATEWAYD_LANDLOCK=off") }
        let abi = gw_landlock_abi()
        if abi > 0 { return (abi, "") }
        switch errno {
        case ENOSYS: return (0, "the kernel has no Landlock (\(kernelRelease()))")
        case EOPNOTSUPP: return (0, "Landlock is disabled at boot (lsm=)")
        default: return (0, "landlock_create_ruleset: \(String(cString: strerror(errno)))")
        }
    }

    /// What the master says of the workers' sandbox at start: one line of
    /// what is on (info), a warning for what is missing (no Landlock, a
    /// path the config names that is not there, the sandbox off under a
    /// master that is not root).
    public static func startLines(_ config: Config) -> [(warning: Bool, text: String)] {
        let masterIsRoot = Sys.effectiveUID() == 0
        guard config.sandbox else {
            let reach = masterIsRoot ? "" : ", and signal the master and the other workers (they share its user)"
            return [(!masterIsRoot, "sandbox: off (sandbox = false): the app may do whatever its user may\(reach)")]
        }
        var lines: [(Bool, String)] = []
        let (abi, reason) = landlockABI()
        let exec = config.sandboxAllowExec ? "allowed" : "refused after the app's init"
        if abi > 0 {
            let bind = abi < 4 ? "" : config.sandboxAllowBind ? "; TCP bind allowed" : "; TCP bind refused"
            let scope = abi >= 6 ? "; signals and abstract sockets kept in the worker" : ""
            let writes = (["temp directory"] + config.sandboxWritePaths).joined(separator: ", ")
            lines.append((false, "sandbox: on: no new privileges, system-call filter, Landlock ABI \(abi) (writes: \(writes); exec \(exec)\(bind)\(scope))"))
        } else {
            lines.append((true, "sandbox: \(reason): workers get no-new-privileges and the system-call filter (exec \(exec), the master's pid and group out of reach), not Landlock: no filesystem rules, no TCP bind rule, and a worker may signal its siblings and, without Yama, read their memory"))
        }
        for (key, paths) in [("sandbox_write_paths", config.sandboxWritePaths), ("sandbox_read_paths", config.sandboxReadPaths)] {
            for path in paths where !Sys.fileExists(path) {
                lines.append((true, "sandbox: \(key): \(path) does not exist: not allowed until it does and the workers restart (SIGHUP)"))
            }
        }
        return lines
    }

    static func kernelRelease() -> String {
        var u = utsname()
        guard uname(&u) == 0 else { return "?" }
        return withUnsafeBytes(of: &u.release) { String(cString: $0.bindMemory(to: CChar.self).baseAddress!) }
    }

    func fail(_ what: String) -> Error {
        Error(description: "sandbox: \(what): \(String(cString: strerror(errno))) (sandbox = false turns the sandbox off)")
    }

    /// Before the app loads. A line for the worker's log when a part is
    /// missing: a kernel without seccomp filters (or valgrind, which has no
    /// seccomp(2)) gets the rest.
    public func enter() throws -> String? {
        guard config.sandbox else { return nil }
        var note: String?
        if gw_sandbox_no_new_privs() != 0 { throw fail("prctl(PR_SET_NO_NEW_PRIVS)") }
        if gw_sandbox_seccomp() != 0 {
            guard Self.unsupported(errno) else { throw fail("seccomp(SECCOMP_SET_MODE_FILTER)") }
            note = "sandbox: no system-call filter in this worker: seccomp: \(String(cString: strerror(errno)))"
        }
        if landlock > 0 { try restrict(readAnywhere: true) }
        return note
    }

    static func unsupported(_ e: Int32) -> Bool { e == ENOSYS || e == EINVAL || e == EOPNOTSUPP }

    /// After the app's init, before the first request.
    public func seal() throws {
        guard config.sandbox else { return }
        if !config.sandboxAllowExec && gw_sandbox_deny_exec() != 0 && !Self.unsupported(errno) { throw fail("seccomp (execve)") }
        if landlock > 0 { try restrict(readAnywhere: false) }
    }

    func restrict(readAnywhere: Bool) throws {
        let ruleset = gw_landlock_ruleset(landlock, readAnywhere ? 1 : 0, config.sandboxAllowBind ? 1 : 0)
        if ruleset < 0 { throw fail("landlock_create_ruleset") }
        var paths: [(String, Bool)] = writePaths().map { ($0, true) }
        if !readAnywhere { paths += readPaths().map { ($0, false) } }
        // Not every path is there (/lib32, a TMPDIR not made yet): skipped.
        for (path, writable) in paths where gw_landlock_allow(ruleset, landlock, readAnywhere ? 1 : 0, path, writable ? 1 : 0) != 0 {
            if errno == ENOENT || errno == EACCES || errno == ENOTDIR { continue }
            let e = errno
            Sys.close(ruleset)
            errno = e
            throw fail("landlock_add_rule \(path)")
        }
        if gw_landlock_restrict(ruleset) != 0 { throw fail("landlock_restrict_self") }
    }

    /// Created, changed and removed by the app: the temp directory, the
    /// logs' directories (reopened on USR1), sandbox_write_paths, and the
    /// character devices everyone writes (/dev/null...).
    public func writePaths() -> [String] {
        var paths = [Sys.environment("TMPDIR").flatMap { $0.hasPrefix("/") ? $0 : nil } ?? "/tmp", "/var/tmp", "/dev/shm"]
        paths += ["/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom", "/dev/tty"]
        for log in [config.errorLog, config.accessLog] where !["", "-", "stdout", "stderr"].contains(log) {
            paths.append(Self.directory(of: absolute(log)))
        }
        return paths + config.sandboxWritePaths
    }

    /// Read (and run) by the app once its init returned.
    public func readPaths() -> [String] {
        var paths = ["/usr", "/lib", "/lib32", "/lib64", "/libx32", "/bin", "/sbin", "/etc", "/opt",
                     "/proc", "/sys", "/dev", "/run", workingDirectory, Self.directory(of: absolute(config.app))]
        // A virtualenv gatewayd is installed in (<venv>/bin/gatewayd).
        if let exe = Sys.readLink("/proc/self/exe") { paths.append(Self.directory(of: Self.directory(of: exe))) }
        // Paths the app was handed: app_args (chdir, pythonpath, virtualenv),
        // its environment.
        var values = config.appArgs.map(\.value) + config.env.map(\.value)
        values += ["VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME"].compactMap { Sys.environment($0) }
        for value in values {
            for part in value.split(whereSeparator: { $0 == "," || $0 == ":" }) where part.hasPrefix("/") {
                paths.append(String(part))
            }
        }
        paths += loadedLibraryDirectories()
        // "/" would be everything: gatewayd started from / (systemd's
        // default WorkingDirectory), a binary or an app_arg at the root. Only
        // the operator's sandbox_read_paths may name it.
        return paths.filter { $0 != "/" && !$0.isEmpty } + config.sandboxReadPaths
    }

    /// The directories of the shared objects mapped now (the app's, its
    /// Python's libpython and extension modules); for one in PREFIX/lib,
    /// PREFIX (a Python's stdlib and site-packages are under it).
    func loadedLibraryDirectories() -> [String] {
        guard let fd = try? Sys.open("/proc/self/maps", O_RDONLY | O_CLOEXEC) else { return [] }
        defer { Sys.close(fd) }
        let text = String(decoding: Sys.readFromStart(fd, limit: 4 << 20), as: UTF8.self)
        var dirs = Set<String>()
        for line in text.split(separator: "\n") {
            guard let slash = line.firstIndex(of: "/") else { continue }
            let path = String(line[slash...])
            guard path.contains(".so") else { continue }
            var dir = Self.directory(of: path)
            if dir.hasSuffix("/lib") || dir.hasSuffix("/lib64") {
                let prefix = Self.directory(of: dir)
                if prefix != "/" { dir = prefix }  // /lib64/ld-linux.so: /lib64 alone
            }
            dirs.insert(dir)
        }
        return dirs.sorted()
    }

    func absolute(_ path: String) -> String {
        path.hasPrefix("/") ? path : workingDirectory + "/" + path
    }

    static func directory(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        return slash == path.startIndex ? "/" : String(path[..<slash])
    }
}
