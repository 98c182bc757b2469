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

    /// nil: stay as we are (not root, or allow_root). `user` and `group`
    /// are names or, as Gunicorn takes them, numeric ids ("-u 1 -g 1").
    public static func resolve(user: String, group: String, allowRoot: Bool) throws -> Privileges? {
        let root = Sys.effectiveUID() == 0
        if !root {
            if !user.isEmpty && account(user)?.uid != Sys.effectiveUID() {
                throw Error(description: "user = \"\(user)\" needs gatewayd to start as root")
            }
            return nil
        }
        if user.isEmpty && allowRoot { return nil }
        let name = user.isEmpty ? "nobody" : user
        guard let pw = account(name) else { throw Error(description: "user \"\(name)\" does not exist") }
        var gid = pw.gid
        if !group.isEmpty {
            guard let gr = groupID(group) else { throw Error(description: "group \"\(group)\" does not exist") }
            gid = gr
        } else if user.isEmpty, let gr = Sys.group(named: "nogroup") {
            gid = gr
        }
        // A uid without a passwd entry has no primary group: it is named.
        guard let gid else {
            throw Error(description: "uid \(pw.uid) has no passwd entry: name the workers' group too (group = \"GID\" or -g GID)")
        }
        // A user named explicitly, root included (user = "root", --user root),
        // is the operator's choice, as allow_root is; the default is nobody.
        return Privileges(uid: pw.uid, gid: gid, user: pw.name ?? String(pw.uid))
    }

    /// A user by name, or by uid when `s` is all digits (its passwd entry's
    /// name and group when it has one; a bare uid is taken as it is, as Gunicorn does).
    static func account(_ s: String) -> (uid: uid_t, gid: gid_t?, name: String?)? {
        if let uid = numericID(s) {
            guard let pw = getpwuid(uid) else { return (uid, nil, nil) }
            return (uid, pw.pointee.pw_gid, String(cString: pw.pointee.pw_name))
        }
        return Sys.user(named: s).map { ($0.uid, $0.gid, s) }
    }

    /// A group by name, or by gid when `s` is all digits.
    static func groupID(_ s: String) -> gid_t? {
        if let gid = numericID(s) { return gid }
        return Sys.group(named: s)
    }

    static func numericID(_ s: String) -> UInt32? {
        guard !s.isEmpty, s.utf8.allSatisfy({ (0x30...0x39).contains($0) }) else { return nil }
        return UInt32(s)
    }

    /// In the worker: supplementary groups, group, then user.
    public func drop() throws {
        if getpwnam(user) != nil {
            _ = try Sys.check("initgroups", user) { initgroups(user, gid) }
        } else {
            // a uid without a passwd entry: its group alone
            var groups = [gid]
            _ = try Sys.check("setgroups", String(gid)) { setgroups(1, &groups) }
        }
        _ = try Sys.check("setgid", String(gid)) { setgid(gid) }
        _ = try Sys.check("setuid", String(uid)) { setuid(uid) }
    }
}
