/*
 * venv.c (wsgi.so, no Python): the virtualenv to serve from when app_args
 * names none, so that `pip install gatewayd` into a venv and
 * `<venv>/bin/gatewayd app:app` use that venv's Python and packages, as
 * `<venv>/bin/gunicorn app:app` does:
 *
 *   1. the one gatewayd itself is installed in: the binary's directory
 *      holds python3 and its parent pyvenv.cfg (the wheel's layout);
 *   2. else $VIRTUAL_ENV, an activated venv (the .deb's gatewayd, or a
 *      source tree's, run from a shell with `. venv/bin/activate`).
 *
 * Which Python the venv is of is boot.c's question (it asks the venv's
 * python): a venv of another X.Y is refused there, not skipped here.
 */
#define _GNU_SOURCE
#include "boot.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* lstat: a venv's python is a symlink to its base Python, which the
 * workers' user may not be allowed to stat (pyenv under /root). */
static int is_file(const char *dir, const char *name)
{
    char path[PATH_MAX];
    struct stat st;
    if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, name) >= sizeof path)
        return 0;
    return lstat(path, &st) == 0 && !S_ISDIR(st.st_mode);
}

/* <venv>/bin/gatewayd: the workers are the gatewayd binary (fork, no
 * exec), so /proc/self/exe is it, with its symlinks resolved. */
static int binary_venv(char *out, size_t size)
{
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0)
        return 0;
    exe[n] = '\0';
    char *slash = strrchr(exe, '/');
    if (slash == NULL || slash == exe)
        return 0;
    *slash = '\0';                       /* <venv>/bin */
    if (!is_file(exe, "python3") && !is_file(exe, "python"))
        return 0;
    slash = strrchr(exe, '/');
    if (slash == NULL)
        return 0;
    *slash = '\0';                       /* <venv> */
    if (*exe == '\0' || !is_file(exe, "pyvenv.cfg"))
        return 0;
    snprintf(out, size, "%s", exe);
    return 1;
}

int find_virtualenv(const gateway_init *init, char *out, size_t size)
{
    if (binary_venv(out, size))
        return 1;
    const char *env = getenv("VIRTUAL_ENV");
    if (env == NULL || *env == '\0')
        return 0;
    if (!is_file(env, "pyvenv.cfg")) {
        char msg[PATH_MAX + 128];
        snprintf(msg, sizeof msg, "wsgi: VIRTUAL_ENV=%s is not a virtualenv (no pyvenv.cfg): not used", env);
        if (init->api != NULL && init->api->log != NULL)
            init->api->log(NULL, GATEWAY_LOG_WARNING, msg);
        return 0;
    }
    snprintf(out, size, "%s", env);
    return 1;
}
