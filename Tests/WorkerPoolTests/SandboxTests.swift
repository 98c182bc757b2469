import CSupport
import ServerCore
import Testing
@testable import WorkerPool

/// The worker's sandbox (docs/sandbox.md): what the allow list lets through
/// and the paths Landlock is given. The filter itself is exercised by
/// Tests/integration/test_sandbox.py (a process cannot take it off again).
@Suite struct SandboxTests {
    @Test func dangerousCallsAreNotOnTheList() throws {
        let refused = ["ptrace", "process_vm_readv", "process_vm_writev", "mount", "umount2", "pivot_root",
                       "chroot", "init_module", "finit_module", "delete_module", "kexec_load", "kexec_file_load",
                       "reboot", "swapon", "swapoff", "setuid", "setgid", "setreuid", "setregid", "setresuid",
                       "setresgid", "setfsuid", "setfsgid", "setgroups", "capset", "bpf", "perf_event_open",
                       "keyctl", "add_key", "request_key", "unshare", "setns", "io_uring_setup", "userfaultfd",
                       "open_by_handle_at", "personality", "acct", "settimeofday", "clock_settime",
                       "pidfd_getfd", "fsopen", "move_mount", "open_tree"]
        for name in refused {
            let nr = gw_sandbox_syscall_number(name)
            #expect(nr >= 0, "\(name) has no number")
            #expect(gw_sandbox_allows(nr) == 0, "\(name) is allowed")
        }
    }

    @Test func theWorkersOwnCallsAreAllowed() {
        for name in ["read", "write", "writev", "accept4", "epoll_wait", "epoll_pwait", "sendfile", "mmap",
                     "futex", "rt_sigreturn", "memfd_create", "exit_group", "getrandom", "openat"] {
            #expect(gw_sandbox_allows(gw_sandbox_syscall_number(name)) == 1, "\(name)")
        }
        // by their arguments
        for name in ["socket", "clone", "ioctl", "clone3"] {
            #expect(gw_sandbox_allows(gw_sandbox_syscall_number(name)) == 2, "\(name)")
        }
    }

    @Test func landlockPaths() {
        var c = Config()
        c.app = "apps/x.so"
        c.errorLog = "/var/log/gatewayd/error.log"
        c.accessLog = "-"
        c.sandboxWritePaths = ["/srv/uploads"]
        c.sandboxReadPaths = ["/srv/data"]
        c.appArgs = [("pythonpath", "/srv/app,/srv/lib"), ("app", "m:app")]
        let s = WorkerSandbox(config: c, workingDirectory: "/srv")
        let write = s.writePaths()
        #expect(write.contains("/tmp") || write.contains(Sys.environment("TMPDIR") ?? "/tmp"))
        #expect(write.contains("/var/log/gatewayd") && write.contains("/srv/uploads") && write.contains("/dev/null"))
        #expect(!write.contains("/srv"))
        let read = s.readPaths()
        for p in ["/usr", "/etc", "/srv", "/srv/apps", "/srv/app", "/srv/lib", "/srv/data"] {
            #expect(read.contains(p), "\(p)")
        }
        #expect(!read.contains("/"))
        #expect(!read.contains("m"))
    }

    @Test func theRootIsNeverImplied() {
        var c = Config()
        c.app = "/srv/app/x.so"
        c.appArgs = [("chdir", "/")]
        let s = WorkerSandbox(config: c, workingDirectory: "/")
        #expect(!s.readPaths().contains("/"))
        #expect(s.readPaths().contains("/srv/app"))
    }

    @Test func configKeys() throws {
        let c = try ConfigLoader(file: "t.conf", text: """
            app = "a.so"
            sandbox = false
            sandbox_allow_exec = true
            sandbox_write_paths = ["/var/lib/a"]
            """).parse()
        #expect(c.sandbox == false && c.sandboxAllowExec && c.sandboxWritePaths == ["/var/lib/a"])
        #expect(Config().sandbox == true && Config().sandboxAllowExec == false)
    }
}
