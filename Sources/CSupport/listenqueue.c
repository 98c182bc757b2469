#define _GNU_SOURCE
#include "csupport.h"
#include <stddef.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <linux/unix_diag.h>

/* TCP: for a listening socket tcpi_unacked is the accept queue's length
 * and tcpi_sacked its maximum (see tcp_get_info() in the kernel). */
static int tcp_queue(int fd, uint32_t *length, uint32_t *max) {
    struct tcp_info info;
    socklen_t len = sizeof(info);
    memset(&info, 0, sizeof(info));
    if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &info, &len) != 0) return -1;
    *length = info.tcpi_unacked;
    *max = info.tcpi_sacked;
    return 0;
}

/* Unix: sock_diag by the socket's inode; UNIX_DIAG_RQLEN of a listening
 * socket is (queue length, backlog). */
static int unix_queue(int fd, uint32_t *length, uint32_t *max) {
    struct stat st;
    if (fstat(fd, &st) != 0) return -1;
    int nl = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
    if (nl < 0) return -1;
    struct timeval tv = { 0, 200000 };
    setsockopt(nl, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    struct {
        struct nlmsghdr nlh;
        struct unix_diag_req req;
    } msg;
    memset(&msg, 0, sizeof(msg));
    msg.nlh.nlmsg_len = sizeof(msg);
    msg.nlh.nlmsg_type = SOCK_DIAG_BY_FAMILY;
    msg.nlh.nlmsg_flags = NLM_F_REQUEST;
    msg.req.sdiag_family = AF_UNIX;
    msg.req.udiag_states = ~0u;
    msg.req.udiag_ino = (uint32_t)st.st_ino;
    msg.req.udiag_show = UDIAG_SHOW_RQLEN;
    msg.req.udiag_cookie[0] = msg.req.udiag_cookie[1] = ~0u; /* INET_DIAG_NOCOOKIE */
    struct sockaddr_nl kernel = { .nl_family = AF_NETLINK };
    int rc = -1;
    if (sendto(nl, &msg, sizeof(msg), 0, (struct sockaddr *)&kernel, sizeof(kernel)) < 0) goto out;
    char buf[8192];
    ssize_t n = recv(nl, buf, sizeof(buf), 0);
    if (n <= 0) goto out;
    for (struct nlmsghdr *h = (struct nlmsghdr *)buf; NLMSG_OK(h, (size_t)n); h = NLMSG_NEXT(h, n)) {
        if (h->nlmsg_type != SOCK_DIAG_BY_FAMILY) break;
        struct unix_diag_msg *m = NLMSG_DATA(h);
        if (m->udiag_ino != (uint32_t)st.st_ino) continue;
        int attrlen = (int)h->nlmsg_len - (int)NLMSG_LENGTH(sizeof(*m));
        for (struct nlattr *a = (struct nlattr *)(m + 1); attrlen >= (int)sizeof(*a) && a->nla_len >= sizeof(*a) && (int)a->nla_len <= attrlen;
             attrlen -= NLA_ALIGN(a->nla_len), a = (struct nlattr *)((char *)a + NLA_ALIGN(a->nla_len))) {
            if (a->nla_type == UNIX_DIAG_RQLEN && a->nla_len >= NLA_HDRLEN + sizeof(struct unix_diag_rqlen)) {
                struct unix_diag_rqlen *q = (struct unix_diag_rqlen *)((char *)a + NLA_HDRLEN);
                *length = q->udiag_rqueue;
                *max = q->udiag_wqueue;
                rc = 0;
            }
        }
    }
out:
    close(nl);
    return rc;
}

int gw_listen_queue(int fd, int is_unix, uint32_t *length, uint32_t *max) {
    *length = *max = 0;
    return is_unix ? unix_queue(fd, length, max) : tcp_queue(fd, length, max);
}

int64_t gw_tcp_last_data_ms(int fd) {
    struct tcp_info info;
    socklen_t len = sizeof(info);
    memset(&info, 0, sizeof(info));
    if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &info, &len) != 0 ||
        len < offsetof(struct tcp_info, tcpi_last_data_recv) + sizeof(info.tcpi_last_data_recv)) return -1;
    return info.tcpi_last_data_recv;
}
