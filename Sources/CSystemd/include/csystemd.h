/* libsystemd, loaded with dlopen when the environment asks for it
 * (NOTIFY_SOCKET, WATCHDOG_USEC, LISTEN_FDS), not linked: gatewayd needs
 * no libsystemd to start, and a wheel's binary depends only on libraries
 * every manylinux system has. The functions behave as libsystemd's
 * (sd_notify(3), sd_watchdog_enabled(3), sd_listen_fds_with_names(3)),
 * whose code they call; without those variables they return 0, as
 * libsystemd does, without loading it. */
#ifndef GW_CSYSTEMD_H
#define GW_CSYSTEMD_H

#include <stdint.h>

/* SD_LISTEN_FDS_START of sd-daemon.h: the first inherited descriptor. */
#define GW_SD_LISTEN_FDS_START 3

int gw_sd_notify(int unset_environment, const char *state);
int gw_sd_watchdog_enabled(int unset_environment, uint64_t *usec);
int gw_sd_listen_fds_with_names(int unset_environment, char ***names);

/* NULL, or why libsystemd could not be loaded when the environment asked
 * for it (the dynamic linker's message). Tries to load it when
 * NOTIFY_SOCKET or WATCHDOG_USEC is set and no call has tried yet. */
const char *gw_sd_unavailable(void);

#endif
