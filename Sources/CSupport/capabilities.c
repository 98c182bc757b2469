/* The master's capabilities: see capabilities.h and docs/sandbox.md. */
#include "capabilities.h"

#include <errno.h>
#include <linux/capability.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

static int caps_get(struct __user_cap_data_struct d[2]) {
    struct __user_cap_header_struct h = { _LINUX_CAPABILITY_VERSION_3, 0 };
    return (int)syscall(SYS_capget, &h, d);
}

static int caps_set(struct __user_cap_data_struct d[2]) {
    struct __user_cap_header_struct h = { _LINUX_CAPABILITY_VERSION_3, 0 };
    return (int)syscall(SYS_capset, &h, d);
}

uint64_t gw_caps_bounding(void) {
    uint64_t set = 0;
    for (int cap = 0; cap < 64; cap++) {
        int r = prctl(PR_CAPBSET_READ, cap, 0, 0, 0);
        if (r < 0) break;  /* EINVAL: past the kernel's last capability */
        if (r == 1) set |= (uint64_t)1 << cap;
    }
    return set;
}

uint64_t gw_caps_permitted(void) {
    struct __user_cap_data_struct d[2] = {{0}};
    if (caps_get(d) != 0) return 0;
    return (uint64_t)d[0].permitted | ((uint64_t)d[1].permitted << 32);
}

uint64_t gw_caps_effective(void) {
    struct __user_cap_data_struct d[2] = {{0}};
    if (caps_get(d) != 0) return 0;
    return (uint64_t)d[0].effective | ((uint64_t)d[1].effective << 32);
}

int gw_caps_keep_only(uint64_t keep) {
    struct __user_cap_data_struct d[2] = {{0}};
    if (caps_get(d) != 0) return -1;
    /* the bounding set first: dropping from it needs CAP_SETPCAP, which the
     * capset below gives up */
    uint64_t bounding = gw_caps_bounding();
    for (int cap = 0; cap < 64; cap++) {
        uint64_t bit = (uint64_t)1 << cap;
        if (!(bounding & bit) || (keep & bit)) continue;
        if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0 && errno != EPERM) return -1;
    }
    /* EINVAL: a kernel before ambient capabilities (4.3), which has none */
    if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) != 0 && errno != EINVAL) return -1;
    for (int i = 0; i < 2; i++) {
        uint32_t k = (uint32_t)(keep >> (32 * i));
        d[i].permitted &= k;
        d[i].effective &= k;
        d[i].inheritable = 0;
    }
    return caps_set(d);
}

int gw_set_dumpable(int on) {
    return prctl(PR_SET_DUMPABLE, on ? 1 : 0, 0, 0, 0);
}

int gw_get_dumpable(void) {
    return prctl(PR_GET_DUMPABLE, 0, 0, 0, 0);
}
