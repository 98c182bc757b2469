#define _GNU_SOURCE
#include "listeners.h"
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>
#include <sys/epoll.h>
#include <sys/prctl.h>

#define MAX_LISTENERS 64

static int listener_fds[MAX_LISTENERS];
static int listener_count;
static int listener_epoll = -1;
static int listeners_done;
static volatile sig_atomic_t master_gone;
static unsigned orphan_alarm;

void gw_listeners_register(int epfd, const int *fds, int count) {
    if (count > MAX_LISTENERS) count = MAX_LISTENERS;
    memcpy(listener_fds, fds, sizeof(int) * (size_t)count);
    listener_count = count;
    listener_epoll = epfd;
    /* A new set is open (a second loop in one process: the in-process
     * tests), unless the master died already: then they stay refused. */
    if (!master_gone) __atomic_store_n(&listeners_done, 0, __ATOMIC_SEQ_CST);
}

int gw_listeners_close(void) {
    if (__atomic_exchange_n(&listeners_done, 1, __ATOMIC_SEQ_CST)) return 0;
    int saved = errno;
    for (int i = 0; i < listener_count; i++) {
        /* Other processes hold the same socket: without the DEL, its epoll
         * entry would outlive our descriptor. */
        if (listener_epoll >= 0) epoll_ctl(listener_epoll, EPOLL_CTL_DEL, listener_fds[i], NULL);
        close(listener_fds[i]);
    }
    errno = saved;
    return 1;
}

int gw_listeners_closed(void) { return __atomic_load_n(&listeners_done, __ATOMIC_SEQ_CST); }

static void on_master_death(int sig) {
    (void)sig;
    master_gone = 1;
    gw_listeners_close();
    if (orphan_alarm > 0) alarm(orphan_alarm);
}

int gw_master_watch(pid_t master, unsigned alarm_secs) {
    int sig = SIGRTMIN + 1;
    orphan_alarm = alarm_secs;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_master_death;
    sa.sa_flags = SA_RESTART;
    sigemptyset(&sa.sa_mask);
    if (sigaction(sig, &sa, NULL) != 0) return -1;
    if (prctl(PR_SET_PDEATHSIG, sig) != 0) return -1;
    /* it may have died before the prctl */
    if (getppid() != master) raise(sig);
    return 0;
}

int gw_master_gone(void) { return master_gone; }
