#ifndef GATEWAYD_LISTENERS_H
#define GATEWAYD_LISTENERS_H

#include <sys/types.h>

/* A worker's listening descriptors, closed exactly once: by the request
 * loop when it stops, or by the master's death signal while the worker is
 * busy inside the app (when the loop cannot run). One owner, so a number
 * closed by one path and reused is never closed again by the other. */

/* Remembers the listening fds (at most 64) and the worker's epoll set. */
void gw_listeners_register(int epfd, const int *fds, int count);

/* Takes them out of the epoll set and closes them; only the first call acts.
 * Async-signal-safe. Returns 1 if this call closed them. */
int gw_listeners_close(void);

/* Whether they are closed (by either path). */
int gw_listeners_closed(void);

/* Asks the kernel for a signal when the master (our parent) dies
 * (PR_SET_PDEATHSIG; call after dropping privileges, which clears it). Its
 * handler closes the listeners at once and arms alarm(alarm_secs), whose
 * default action ends the worker if its request is still running then.
 * Returns 0, or -1 with errno; raises the signal itself if the master is
 * already gone. */
int gw_master_watch(pid_t master, unsigned alarm_secs);

/* Set once the master's death signal arrived. */
int gw_master_gone(void);

#endif
