#if canImport(Glibc)
import Glibc
#endif
import ServerCore

/// `reload = true` (`--reload`, development): watches the app's files with
/// inotify and asks for a normal reload when one changes, so that a broken
/// edit keeps the last good code serving (the reload is abandoned, the
/// traceback is in the log). For a WSGI app, the *.py files under the
/// project (chdir or the working directory, and pythonpath), skipping
/// virtualenvs, caches and hidden folders; for a native app, its .so.
/// Changes are gathered for a quiet `settle` before the reload is due, so
/// an editor's save (write, rename, chmod) gives one reload.
public final class CodeWatcher {
    public let fd: Int32
    var folders: [Int32: String] = [:]
    /// A native app's file name in its folder (nil: *.py files).
    let nativeName: String?
    var changed: String?
    var dueAt: UInt64 = 0
    static let settle: UInt64 = 300_000_000
    static let maxFolders = 4096
    static let skipped: Set<String> = ["__pycache__", "site-packages", "node_modules", "venv", ".venv", "build", "dist"]

    public init(config: Config, workingDirectory: String) throws {
        fd = try Sys.inotifyInit()
        if config.appArgs.contains(where: { $0.name == "app" }) && config.app.hasSuffix("wsgi.so") {
            nativeName = nil
            var roots = [config.appArgs.first { $0.name == "chdir" }?.value ?? workingDirectory]
            for arg in config.appArgs where arg.name == "pythonpath" {
                roots += arg.value.split(separator: ",").map { String($0).trimmingSpaces() }
            }
            for root in Set(roots) where !root.isEmpty { watchTree(root, depth: 0) }
        } else {
            let path = config.app
            let slash = path.lastIndex(of: "/")
            nativeName = slash.map { String(path[path.index(after: $0)...]) } ?? path
            watch(slash.map { String(path[..<$0]) } ?? workingDirectory)
        }
    }

    deinit { Sys.close(fd) }

    public var watchedFolders: Int { folders.count }

    func watch(_ folder: String) {
        guard folders.count < Self.maxFolders else { return }
        let mask = UInt32(IN_CLOSE_WRITE | IN_MOVED_TO | IN_DELETE | IN_CREATE | IN_MOVED_FROM)
        if let wd = try? Sys.inotifyAddWatch(fd, folder, mask: mask) { folders[wd] = folder }
    }

    func watchTree(_ folder: String, depth: Int) {
        guard depth < 12 else { return }
        // A virtualenv is the packages, not the project.
        if Sys.isReadable(folder + "/pyvenv.cfg") { return }
        watch(folder)
        for name in Sys.subfolders(folder) where !name.hasPrefix(".") && !Self.skipped.contains(name) {
            watchTree(folder + "/" + name, depth: depth + 1)
        }
    }

    /// Reads what inotify reported; `now` starts the settle time.
    public func readEvents(now: UInt64) {
        for event in Sys.inotifyRead(fd) {
            guard let folder = folders[event.wd] else { continue }
            let path = folder + "/" + event.name
            if event.isFolder && nativeName == nil {
                if event.mask & UInt32(IN_CREATE | IN_MOVED_TO) != 0 && !event.name.hasPrefix(".")
                    && !Self.skipped.contains(event.name) { watchTree(path, depth: 1) }
                continue
            }
            let relevant = nativeName.map { event.name == $0 } ?? event.name.hasSuffix(".py")
            guard relevant else { continue }
            changed = path
            dueAt = now + Self.settle
        }
    }

    /// The changed file once the settle time has passed: reload now.
    public func due(now: UInt64) -> String? {
        guard let path = changed, now >= dueAt else { return nil }
        changed = nil
        return path
    }
}
