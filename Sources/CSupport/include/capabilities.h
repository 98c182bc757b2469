/* The master's capabilities (docs/sandbox.md, "The master"): once its
 * sockets are bound it keeps only what supervising the workers needs and
 * drops the rest for good, from the bounding set too, so that no exec (a
 * binary upgrade's new master) gets them back. Raw capget/capset and prctl:
 * no libcap (the wheels keep their manylinux tag). */
#ifndef GW_CAPABILITIES_H
#define GW_CAPABILITIES_H

#include <stdint.h>

/* The bounding set, one bit per capability number. */
uint64_t gw_caps_bounding(void);
/* The permitted and effective sets, one bit per capability number (0 and
 * errno set when capget fails). */
uint64_t gw_caps_permitted(void);
uint64_t gw_caps_effective(void);

/* Keeps `keep` and nothing else: drops every other capability from the
 * bounding set (PR_CAPBSET_DROP, which needs CAP_SETPCAP: where it is not
 * held, as under the shipped unit, the bounding set is left as it is),
 * clears the ambient set, then sets permitted and effective to what they
 * held of `keep`, inheritable to nothing. 0, or -1 (errno) naming nothing:
 * the caller compares the sets before and after. */
int gw_caps_keep_only(uint64_t keep);

/* prctl(PR_SET_DUMPABLE): a master that is not root makes itself
 * non-dumpable, so that its workers, of the same user, cannot open its
 * /proc/PID/mem, environ or fds (only CAP_SYS_PTRACE could); its workers
 * make themselves dumpable again, so that the master can still take a
 * timed-out client's socket (pidfd_getfd) and read their smaps_rollup.
 * 0 or -1 (errno). gw_get_dumpable: 0 or 1, -1 on error. */
int gw_set_dumpable(int on);
int gw_get_dumpable(void);

#endif
