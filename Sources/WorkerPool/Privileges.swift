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
        let root = geteuid() == 0
        if !root {
            if !user.isEmpty && getpwnam(user)?.pointee.pw_uid != geteuid() {
                throw Error(description: "user = \"\(user)\" needs gatewayd to start as root")
            }
            return nil
        }
        if user.isEmpty && allowRoot { return nil }
        let name = user.isEmpty ? "nobody" : user
        guard let pw = getpwnam(name) else { throw Error(description: "user \"\(name)\" does not exist") }
        var gid = pw.pointee.pw_gid
        if !group.isEmpty {
            guard let gr = getgrnam(group) else { throw Error(description: "group \"\(group)\" does not exist") }
            gid = gr.pointee.gr_gid
        } else if user.isEmpty, let gr = getgrnam("nogroup") {
            gid = gr.pointee.gr_gid
        }
        // A user named explicitly, root included (user = "root", --user root),
        // is the operator's choice, as allow_root is; the default is nobody.
        return Privileges(uid: pw.pointee.pw_uid, gid: gid, user: name)
    }

    /// In the worker: supplementary groups, group, then user.
    public func drop() throws {
        _ = try Sys.check("initgroups", user) { initgroups(user, gid) }
        _ = try Sys.check("setgid", String(gid)) { setgid(gid) }
        _ = try Sys.check("setuid", String(uid)) { setuid(uid) }
    }
}
