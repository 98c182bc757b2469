import Testing
@testable import WorkerPool

/// -u/-g as Gunicorn takes them: names or numeric ids (issue 24).
@Suite struct PrivilegesTests {
    @Test func numericIdsAreTakenAsIds() throws {
        let root = try #require(Privileges.account("0"))
        #expect(root.uid == 0 && root.gid == 0 && root.name == "root")
        #expect(Privileges.account("root")?.uid == 0)
        // A uid without a passwd entry is taken as it is, without a group.
        let bare = try #require(Privileges.account("3999999"))
        #expect(bare.uid == 3_999_999 && bare.gid == nil && bare.name == nil)
        #expect(Privileges.account("no-such-user-here") == nil)
        #expect(Privileges.groupID("5") == 5 && Privileges.groupID("root") == 0)
        #expect(Privileges.numericID("") == nil && Privileges.numericID("1a") == nil && Privileges.numericID("-1") == nil)
    }
}
