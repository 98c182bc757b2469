#if canImport(Glibc)
import Glibc
#endif
import ServerCore

/// The user a worker runs the app as. When the master runs as root, workers
/// drop to `user`/`group` (default nobody/nogroup, like nginx) before the app
/// is loaded; only `allow_root = true` or naming root as `user` keeps root.
public struct Privileges: Equatable {
    public let uid: uid_t
    public let gid: gid_t
    public let user: String

    public struct Error: Swift.Error, CustomStringConvertible {
        public let description: String
    }

    /// nil: stay as we are (not root, or allow_root).
    public static func resolve(user: String, group: String, allowRoot: Bool) throws -> Privileges? {
        let root = Sys.effectiveUID() == 0
        if !root {
            if !user.isEmpty && Sys.user(named: user)?.uid != Sys.effectiveUID() {
                throw Error(description: "user = \"\(user)\" needs gatewayd to start as root")
            }
            return nil
        }
        if user.isEmpty && allowRoot { return nil }
        let name = user.isEmpty ? "nobody" : user
        guard let pw = Sys.user(named: name) else { throw Error(description: "user \"\(name)\" does not exist") }
        var gid = pw.gid
        if !group.isEmpty {
            guard let gr = Sys.group(named: group) else { throw Error(description: "group \"\(group)\" does not exist") }
            gid = gr
        } else if user.isEmpty, let gr = Sys.group(named: "nogroup") {
            gid = gr
        }
        // A user named explicitly, root included (user = "root", --user root),
        // is the operator's choice, as allow_root is; the default is nobody.
        return Privileges(uid: pw.uid, gid: gid, user: name)
    }

    /// In the worker: supplementary groups, group, then user.
    public func drop() throws {
        _ = try Sys.check("initgroups", user) { initgroups(user, gid) }
        _ = try Sys.check("setgid", String(gid)) { setgid(gid) }
        _ = try Sys.check("setuid", String(uid)) { setuid(uid) }
    }
}
