/*
 * hostile: an app that behaves as a compromised one would, for the tests of
 * the sandbox (Tests/integration/test_sandbox.py, docs/sandbox.md). Never
 * deploy it. Each request tries, in this order:
 *
 *   exec          posix_spawn /bin/sh -c true (execve)
 *   ptrace        PTRACE_ATTACH to ?sibling=PID (another worker)
 *   shadow        open /etc/shadow for reading
 *   environ       open the master's /proc/PPID/environ for reading
 *   write         create ?write=PATH (a file outside the allowed paths)
 *   raw_socket    socket(AF_INET, SOCK_RAW, IPPROTO_ICMP)
 *   netlink       socket(AF_NETLINK, SOCK_RAW, NETLINK_ROUTE)
 *   mount         mount a tmpfs on /mnt
 *   setuid        setuid(0)
 *   init_module   init_module(NULL, 0, "")
 *   finit_module  finit_module(an open /dev/null, "", 0)
 *   kill_master   kill(PPID, 0): the master (of the same user when it is not root)
 *   kill_group    kill(0, 0): the process group, the master's
 *   kill_sibling  kill(?sibling=PID, 0)
 *   mem_sibling   open /proc/?sibling=PID/mem for reading
 *   abstract      connect to the abstract unix socket ?abstract=NAME
 *   bind_tcp      bind a TCP socket to 127.0.0.1, port 0
 *
 * and answers 200 with a JSON object: each name with "ok" (it worked, and
 * was undone) or the errno's name ("EPERM"). The request always gets its
 * answer: a refusal is an error the app reports, never a kill.
 */
#define _GNU_SOURCE
#include <gateway.h>

#include <errno.h>
#include <fcntl.h>
#include <linux/netlink.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <stddef.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

static const char *result(int failed, int err)
{
    if (!failed)
        return "ok";
    const char *name = strerrorname_np(err);
    return name ? name : "E?";
}

/* The value of `key` in the query string into out ("" if absent). */
static void query(gateway_request *r, const char *key, char *out, size_t size)
{
    *out = '\0';
    const char *q = r->api->getenv(r, "QUERY_STRING");
    size_t klen = strlen(key);
    while (q && *q) {
        const char *end = strchr(q, '&');
        size_t len = end ? (size_t)(end - q) : strlen(q);
        if (len > klen && strncmp(q, key, klen) == 0 && q[klen] == '=') {
            snprintf(out, size, "%.*s", (int)(len - klen - 1), q + klen + 1);
            return;
        }
        q = end ? end + 1 : NULL;
    }
}

static const char *try_exec(void)
{
    pid_t pid;
    char *argv[] = { "sh", "-c", "true", NULL };
    int rc = posix_spawn(&pid, "/bin/sh", NULL, NULL, argv, environ);
    if (rc == 0)
        waitpid(pid, NULL, 0);
    return result(rc != 0, rc);
}

static const char *try_ptrace(const char *sibling)
{
    pid_t pid = (pid_t)atoi(sibling);
    if (pid <= 0)
        return "no sibling";
    long rc = ptrace(PTRACE_ATTACH, pid, NULL, NULL);
    int e = errno;
    if (rc == 0) {
        waitpid(pid, NULL, __WALL);
        ptrace(PTRACE_DETACH, pid, NULL, NULL);
    }
    return result(rc != 0, e);
}

static const char *try_read(const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    int e = errno;
    char c;
    if (fd >= 0) {
        ssize_t n = read(fd, &c, 1);
        e = errno;
        close(fd);
        if (n < 0)
            return result(1, e);
    }
    return result(fd < 0, e);
}

static const char *try_write(const char *path)
{
    if (*path == '\0')
        return "no path";
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    int e = errno;
    if (fd >= 0) {
        close(fd);
        unlink(path);
    }
    return result(fd < 0, e);
}

static const char *try_socket(int domain, int type, int protocol)
{
    int fd = socket(domain, type | SOCK_CLOEXEC, protocol);
    int e = errno;
    if (fd >= 0)
        close(fd);
    return result(fd < 0, e);
}

static const char *try_mount(void)
{
    int rc = mount("hostile", "/mnt", "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "size=1k");
    int e = errno;
    if (rc == 0)
        umount2("/mnt", MNT_DETACH);
    return result(rc != 0, e);
}

static const char *try_setuid(void)
{
    int rc = setuid(0);
    return result(rc != 0, errno);
}

static const char *try_init_module(void)
{
    long rc = syscall(SYS_init_module, NULL, 0UL, "");
    return result(rc != 0, errno);
}

static const char *try_finit_module(void)
{
    int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    long rc = syscall(SYS_finit_module, fd, "", 0);
    int e = errno;
    if (fd >= 0)
        close(fd);
    return result(rc != 0, e);
}

static const char *try_kill(int pid)
{
    if (pid == -1)
        return "no pid";
    int rc = kill(pid, 0);
    return result(rc != 0, errno);
}

static const char *try_abstract(const char *name)
{
    if (*name == '\0')
        return "no name";
    struct sockaddr_un a = { .sun_family = AF_UNIX };
    size_t len = strlen(name);
    if (len > sizeof a.sun_path - 1)
        len = sizeof a.sun_path - 1;
    memcpy(a.sun_path + 1, name, len);  /* sun_path[0] == 0: abstract */
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return result(1, errno);
    int rc = connect(fd, (struct sockaddr *)&a, (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + len));
    int e = errno;
    close(fd);
    return result(rc != 0, e);
}

static const char *try_bind_tcp(void)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return result(1, errno);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = 0, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    int rc = bind(fd, (struct sockaddr *)&a, sizeof a);
    int e = errno;
    close(fd);
    return result(rc != 0, e);
}

static int hostile_call(gateway_request *r)
{
    const gateway_api *api = r->api;
    char sibling[32], target[1024], environ_path[64], abstract[64], mem_path[64];
    query(r, "sibling", sibling, sizeof sibling);
    query(r, "write", target, sizeof target);
    query(r, "abstract", abstract, sizeof abstract);
    snprintf(environ_path, sizeof environ_path, "/proc/%d/environ", (int)getppid());
    snprintf(mem_path, sizeof mem_path, "/proc/%s/mem", *sibling ? sibling : "0");
    int sibling_pid = *sibling ? atoi(sibling) : -1;

    char body[2048];
    int n = snprintf(body, sizeof body,
                     "{\"pid\": %d, \"exec\": \"%s\", \"ptrace\": \"%s\", \"shadow\": \"%s\", "
                     "\"environ\": \"%s\", \"write\": \"%s\", \"raw_socket\": \"%s\", "
                     "\"netlink\": \"%s\", \"mount\": \"%s\", \"setuid\": \"%s\", "
                     "\"init_module\": \"%s\", \"finit_module\": \"%s\", \"kill_master\": \"%s\", "
                     "\"kill_group\": \"%s\", \"kill_sibling\": \"%s\", \"mem_sibling\": \"%s\", "
                     "\"abstract\": \"%s\", \"bind_tcp\": \"%s\"}",
                     (int)getpid(), try_exec(), try_ptrace(sibling), try_read("/etc/shadow"),
                     try_read(environ_path), try_write(target),
                     try_socket(AF_INET, SOCK_RAW, IPPROTO_ICMP),
                     try_socket(AF_NETLINK, SOCK_RAW, NETLINK_ROUTE), try_mount(), try_setuid(),
                     try_init_module(), try_finit_module(), try_kill((int)getppid()), try_kill(0),
                     try_kill(sibling_pid), try_read(mem_path), try_abstract(abstract), try_bind_tcp());
    char length[16];
    snprintf(length, sizeof length, "%d", n);
    const gateway_pair headers[] = {
        { "Content-Type", "application/json" },
        { "Content-Length", length },
    };
    if (api->start_response(r, "200 OK", headers, 2, 0) != GATEWAY_OK)
        return GATEWAY_ERROR;
    return api->write_last(r, body, (size_t)n);
}

static const gateway_app_descriptor hostile_app = {
    .abi_version = GATEWAY_ABI_VERSION,
    .flags = GATEWAY_APP_THREAD_SAFE,   /* no state shared between calls but constants */
    .name = "hostile",
    .init = NULL,
    .call = hostile_call,
    .shutdown = NULL,
};

GATEWAY_EXPORT_APP(hostile_app)
