/* csystemd.c: libsystemd.so.0 by dlopen (see csystemd.h). Only the master
 * calls these, from its one thread. */
#define _GNU_SOURCE
#include "csystemd.h"

#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int (*p_notify)(int, const char *);
static int (*p_watchdog_enabled)(int, uint64_t *);
static int (*p_listen_fds_with_names)(int, char ***);
static int tried;
static char load_error[512];

/* 0 when libsystemd's functions are there, -ENOSYS (and load_error) when not. */
static int load(void)
{
    if (tried)
        return p_notify != NULL ? 0 : -ENOSYS;
    tried = 1;
    void *h = dlopen("libsystemd.so.0", RTLD_NOW | RTLD_LOCAL);
    if (h == NULL) {
        const char *e = dlerror();
        snprintf(load_error, sizeof load_error, "%s", e ? e : "libsystemd.so.0: cannot be loaded");
        return -ENOSYS;
    }
    *(void **)&p_notify = dlsym(h, "sd_notify");
    *(void **)&p_watchdog_enabled = dlsym(h, "sd_watchdog_enabled");
    *(void **)&p_listen_fds_with_names = dlsym(h, "sd_listen_fds_with_names");
    if (p_notify == NULL || p_watchdog_enabled == NULL || p_listen_fds_with_names == NULL) {
        snprintf(load_error, sizeof load_error, "libsystemd.so.0 lacks sd_notify, "
                 "sd_watchdog_enabled or sd_listen_fds_with_names (systemd older than 227)");
        p_notify = NULL;
        dlclose(h);
        return -ENOSYS;
    }
    return 0;
}

static int set(const char *name)
{
    const char *v = getenv(name);
    return v != NULL && *v != '\0';
}

int gw_sd_notify(int unset_environment, const char *state)
{
    if (!set("NOTIFY_SOCKET"))
        return 0;
    int rc = load();
    return rc < 0 ? rc : p_notify(unset_environment, state);
}

int gw_sd_watchdog_enabled(int unset_environment, uint64_t *usec)
{
    if (!set("WATCHDOG_USEC"))
        return 0;
    int rc = load();
    return rc < 0 ? rc : p_watchdog_enabled(unset_environment, usec);
}

int gw_sd_listen_fds_with_names(int unset_environment, char ***names)
{
    if (!set("LISTEN_FDS") && !set("LISTEN_PID"))
        return 0;
    int rc = load();
    if (rc < 0) {
        /* what libsystemd would have done with the variables */
        if (unset_environment) {
            unsetenv("LISTEN_PID");
            unsetenv("LISTEN_FDS");
            unsetenv("LISTEN_FDNAMES");
        }
        return rc;
    }
    return p_listen_fds_with_names(unset_environment, names);
}

const char *gw_sd_unavailable(void)
{
    if (!tried && (set("NOTIFY_SOCKET") || set("WATCHDOG_USEC")))
        (void)load();
    return tried && p_notify == NULL ? load_error : NULL;
}
