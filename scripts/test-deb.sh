#!/usr/bin/env bash
# End-to-end test of the Debian package, as root on a Debian 12 machine
# without systemd as PID 1 (a CI container):
#
#     scripts/test-deb.sh [path/to/gatewayd_*.deb]
#
# Builds the .deb (dpkg-buildpackage, unless one is given), installs it,
# checks the configuration, runs the installed daemon with the shipped
# /etc/gatewayd.conf (started directly, as root, so the workers drop to user
# gatewayd), requests / over TCP, over the unix socket and through nginx with
# the shipped site file, reloads it, stops it with SIGTERM (exit 0), does
# the same under socket activation (systemd-socket-activate, with the
# addresses and names of gatewayd.socket), runs lintian and systemd-analyze
# verify, and purges the package. Port 8000 and /run/gatewayd must be free.
#
# TEST_DEB_SYSTEMD=1 adds the same under systemd: a Debian 12 root made by
# debootstrap, with the package installed, booted in systemd-nspawn (the
# service as installed, reload, stop, the socket unit, binary upgrade).
# The last line is "N passed, N failed[, N skipped]"; the exit code is
# non-zero when anything failed.
set -u

ROOT=$(cd "$(dirname "$0")/.." && pwd)
WORK=$(mktemp -d /tmp/test-deb.XXXXXX)
SOCK=/run/gatewayd/gatewayd.sock
EXPECT="Hello, World!"
passed=0 failed=0 skipped=0
GW_PID="" NGINX_CONF=""

ok()   { passed=$((passed + 1)); echo "ok - $*"; }
fail() { failed=$((failed + 1)); echo "FAIL - $*"; }
skip() { skipped=$((skipped + 1)); echo "skip - $*"; }
# check NAME COMMAND...: passes when COMMAND succeeds.
check() {
    local name=$1; shift
    if "$@" >"$WORK/check.out" 2>&1; then ok "$name"; else fail "$name"; sed 's/^/    /' "$WORK/check.out" | tail -20; fi
}
summary() {
    local line="$passed passed, $failed failed"
    [ "$skipped" -gt 0 ] && line="$line, $skipped skipped"
    echo "$line"
}
finish() {
    summary
    [ "$failed" -eq 0 ]
    exit
}
cleanup() {
    [ -n "$NGINX_CONF" ] && [ -f "$WORK/nginx.pid" ] && kill "$(cat "$WORK/nginx.pid")" 2>/dev/null
    [ -n "$GW_PID" ] && kill -INT "$GW_PID" 2>/dev/null && wait "$GW_PID" 2>/dev/null
    rm -rf "$WORK"
}
trap cleanup EXIT

# get URL [curl options...]: the body, or nothing.
get() { local url=$1; shift; curl -s -m 5 "$@" "$url"; }
body_is() { local want=$1; shift; local got; got=$(get "$@"); [ "$got" = "$want" ] || { echo "got: '$got'"; return 1; }; }
# wait_for COMMAND...: up to 30 s.
wait_for() { local i; for i in $(seq 1 150); do "$@" >/dev/null 2>&1 && return 0; sleep 0.2; done; return 1; }
port_free() { ! (exec 3<>/dev/tcp/127.0.0.1/8000) 2>/dev/null; }

# stop_daemon NAME: SIGTERM, wait (graceful_timeout is 30 s), expect exit 0.
stop_daemon() {
    local name=$1 rc
    kill -TERM "$GW_PID"
    local i; for i in $(seq 1 225); do kill -0 "$GW_PID" 2>/dev/null || break; sleep 0.2; done
    kill -0 "$GW_PID" 2>/dev/null && { echo "    still running after 45 s: SIGKILL"; kill -KILL "$GW_PID"; }
    wait "$GW_PID"; rc=$?
    GW_PID=""
    if [ "$rc" -eq 0 ]; then ok "$name: SIGTERM, master exits 0"; else fail "$name: SIGTERM, master exited $rc"; tail -20 "$WORK/gatewayd.log" | sed 's/^/    /'; fi
    check "$name: no worker left running as gatewayd" bash -c '! pgrep -u gatewayd'
}

workers_are_gatewayd() {
    local users
    users=$(ps -o user= --ppid "$GW_PID" | sort | uniq -c)
    echo "master: $(ps -o user= -p "$GW_PID"); workers: $users"
    [ "$(ps -o user= -p "$GW_PID" | tr -d ' ')" = root ] || return 1
    [ "$(ps -o user= --ppid "$GW_PID" | tr -d ' ' | sort -u)" = gatewayd ] || return 1
    [ "$(ps -o user= --ppid "$GW_PID" | wc -l)" -eq 2 ]
}

if [ "$(id -u)" != 0 ]; then
    echo "test-deb: must run as root (it installs and purges the package)" >&2
    fail "running as root"
    finish
fi
export DEBIAN_FRONTEND=noninteractive

# --- under systemd (opt-in: TEST_DEB_SYSTEMD=1) -----------------------------
# A minimal Debian 12 (debootstrap, from the Debian archive) with the
# package installed, booted with systemd-nspawn: the real units, enabled as
# the package leaves them. Adds about a minute and 300 MB in $WORK.
systemd_tests() {
    local root="$WORK/rootfs"
    apt-get install -y -q --no-install-recommends debootstrap systemd-container >"$WORK/apt.log" 2>&1 \
        || { fail "systemd: install debootstrap, systemd-container"; tail -5 "$WORK/apt.log"; return; }
    echo "debootstrap bookworm ..."
    if ! debootstrap --variant=minbase --include=systemd,systemd-sysv,dbus,curl,adduser,procps,libsystemd0,libstdc++6 \
            bookworm "$root" >"$WORK/debootstrap.log" 2>&1; then
        fail "systemd: debootstrap bookworm"; tail -5 "$WORK/debootstrap.log" | sed 's/^/    /'; return
    fi
    cp "$DEB" "$root/root/gatewayd.deb"
    check "systemd: dpkg -i in the container's root" chroot "$root" dpkg -i /root/gatewayd.deb
    mkdir -p "$root/nsp"
    cp "$ROOT/scripts/test-deb.sh" "$root/nsp/test-deb.sh"
    printf '%s\n' '[Unit]' 'Description=gatewayd package test' 'After=gatewayd.service' \
        '[Service]' 'Type=oneshot' 'ExecStart=/bin/bash /nsp/test-deb.sh --inside-systemd' \
        'ExecStopPost=/bin/systemctl --no-block poweroff' \
        'StandardOutput=append:/nsp/result' 'StandardError=append:/nsp/result' \
        >"$root/etc/systemd/system/gatewayd-test.service"
    ln -sf /etc/systemd/system/gatewayd-test.service "$root/etc/systemd/system/multi-user.target.wants/"
    echo "booting the container (systemd-nspawn) ..."
    # pidfd_getfd (the master's 504 on a timeout) is not in nspawn's default
    # system call filter.
    timeout 300 systemd-nspawn -D "$root" --private-network --register=no --keep-unit -M gatewayd-test \
        --system-call-filter=pidfd_getfd -b >"$WORK/nspawn.log" 2>&1
    if [ ! -s "$root/nsp/result" ]; then
        fail "systemd: the container ran the tests"; tail -20 "$WORK/nspawn.log" | sed 's/^/    /'; return
    fi
    cat "$root/nsp/result"
    passed=$((passed + $(grep -c '^ok - ' "$root/nsp/result")))
    failed=$((failed + $(grep -c '^FAIL - ' "$root/nsp/result")))
}

# What runs inside the container, as gatewayd-test.service (after boot).
inside_systemd() {
    hello() { [ "$(curl -s -m 10 "$@")" = "$EXPECT" ]; }
    www() { setpriv --reuid=www-data --regid=www-data --clear-groups \
                curl -s -m 10 --unix-socket "$SOCK" http://localhost/ | grep -qx "$EXPECT"; }
    stopped_ok() { local r; r=$(systemctl show gatewayd -p Result -p ExecMainStatus | tr '\n' ' '); echo "$r"
                   [[ $r == *"Result=success ExecMainStatus=0"* ]]; }
    served() { systemctl is-active gatewayd && hello http://127.0.0.1:8000/; }
    workers() { [ "$(ps -o user= --ppid "$(systemctl show -p MainPID --value gatewayd)" | tr -d ' ' | sort -u)" = gatewayd ]; }
    wait_for systemctl is-active gatewayd
    check "systemd: gatewayd.service enabled and active after boot" systemctl is-active gatewayd
    check "systemd: status line from the master" bash -c 'systemctl show -p StatusText gatewayd | grep workers'
    check "systemd: GET over TCP" hello http://127.0.0.1:8000/
    check "systemd: GET over the unix socket" hello --unix-socket "$SOCK" http://localhost/
    check "systemd: www-data (nginx) may connect to the socket" www
    check "systemd: workers run as gatewayd" workers
    systemctl reload gatewayd
    sleep 1
    check "systemd: systemctl reload, still serving" served
    systemctl stop gatewayd
    check "systemd: systemctl stop, master exited 0" stopped_ok

    systemctl start gatewayd.socket
    check "socket unit: the first connection starts the service" hello --unix-socket "$SOCK" http://localhost/
    sleep 1
    check "socket unit: service active, GET over TCP" served
    check "socket unit: inherited sockets served" bash -c 'journalctl -u gatewayd -o cat | grep "serving on inherited socket"'
    check "socket unit: www-data may connect" www
    systemctl stop gatewayd
    check "socket unit: socket kept while the service is stopped" test -S "$SOCK"
    check "socket unit: a connection restarts the stopped service" hello http://127.0.0.1:8000/
    systemctl stop gatewayd gatewayd.socket
    check "socket unit: stop, master exited 0" stopped_ok

    systemctl start gatewayd
    sleep 1
    local old
    old=$(systemctl show -p MainPID --value gatewayd)
    systemctl kill --kill-whom=main --signal=USR2 gatewayd
    sleep 4
    check "binary upgrade (SIGUSR2): new MAINPID" bash -c "[ \"\$(systemctl show -p MainPID --value gatewayd)\" != $old ]"
    check "binary upgrade: service active, still serving" served
    timeout 60 systemctl stop gatewayd
    check "binary upgrade: stop, master exited 0" stopped_ok
    exit 0
}
if [ "${1:-}" = --inside-systemd ]; then
    inside_systemd
fi

# --- the package -----------------------------------------------------------
bash "$ROOT/scripts/deps.sh" deb >"$WORK/deps.log" 2>&1 || { cat "$WORK/deps.log"; fail "installing the build and test tools"; }
DEB=${1:-}
if [ -z "$DEB" ]; then
    echo "building the package (dpkg-buildpackage -us -uc -b) ..."
    version=$(cd "$ROOT" && dpkg-parsechangelog -SVersion)
    DEB="$(dirname "$ROOT")/gatewayd_${version}_$(dpkg --print-architecture).deb"
    rm -f "$DEB"
    if (cd "$ROOT" && dpkg-buildpackage -us -uc -b) >"$WORK/build.log" 2>&1 && [ -f "$DEB" ]; then
        ok "dpkg-buildpackage -us -uc -b"
    else
        fail "dpkg-buildpackage -us -uc -b"; tail -40 "$WORK/build.log" | sed 's/^/    /'
        finish
    fi
fi
DEB=$(readlink -f "$DEB")
[ -f "$DEB" ] || { fail "package file $DEB exists"; finish; }
echo "package: $DEB"

# lintian: no errors (warnings kept are explained in debian/README.source).
if command -v lintian >/dev/null; then
    lintian "$DEB" >"$WORK/lintian.out" 2>&1
    sed 's/^/    /' "$WORK/lintian.out" | grep -v 'root privileges'
    check "lintian: no errors" bash -c "! grep -q '^E:' '$WORK/lintian.out'"
else
    skip "lintian (not installed)"
fi

# A socket file nobody listens on is left from an earlier run: remove it.
if [ -S "$SOCK" ] && ! curl -s -m 2 --unix-socket "$SOCK" http://localhost/ >/dev/null; then rm -f "$SOCK"; fi
if ! port_free || [ -e "$SOCK" ]; then
    fail "127.0.0.1:8000 and $SOCK are free (stop what uses them)"
    finish
fi

# --- install ---------------------------------------------------------------
if dpkg -i "$DEB" >"$WORK/install.log" 2>&1 || apt-get install -f -y -q >>"$WORK/install.log" 2>&1; then :; fi
check "dpkg -i: installed" bash -c "dpkg-query -W -f='\${Status}' gatewayd | grep -qx 'install ok installed'"
check "reinstall (postinst is idempotent)" dpkg -i "$DEB"
check "system user and group gatewayd" bash -c 'getent passwd gatewayd && getent group gatewayd && [ "$(id -gn gatewayd)" = gatewayd ]'
check "files: daemon, apps, header, man page, units" \
    test -x /usr/sbin/gatewayd -a -f /usr/lib/gatewayd/apps/hello.so -a -f /usr/lib/gatewayd/apps/hello-c.so \
         -a -f /usr/include/gateway.h -a -f /usr/share/man/man8/gatewayd.8.gz \
         -a -f /lib/systemd/system/gatewayd.service -a -f /lib/systemd/system/gatewayd.socket
check "/etc/gatewayd.conf is a conffile" bash -c "dpkg-query -W -f='\${Conffiles}' gatewayd | grep -q ' /etc/gatewayd.conf '"
check "gatewayd --check-config -c /etc/gatewayd.conf" /usr/sbin/gatewayd --check-config -c /etc/gatewayd.conf

# systemd-analyze verify on the installed units: only "not found" noise for
# what this machine lacks may appear.
if command -v systemd-analyze >/dev/null; then
    systemd-analyze verify /lib/systemd/system/gatewayd.service /lib/systemd/system/gatewayd.socket >"$WORK/verify.out" 2>&1
    sed 's/^/    /' "$WORK/verify.out"
    check "systemd-analyze verify: no findings" \
        bash -c "! grep -v -E 'is not executable|No such file or directory|not found' '$WORK/verify.out' | grep -q ."
else
    skip "systemd-analyze verify (systemd not installed)"
fi

# --- the installed daemon, binding its own sockets --------------------------
# What systemd's RuntimeDirectory= would do; ExecStartPost's chgrp follows.
mkdir -p /run/gatewayd
cd /
/usr/sbin/gatewayd -c /etc/gatewayd.conf >"$WORK/gatewayd.log" 2>&1 &
GW_PID=$!
if wait_for body_is "$EXPECT" http://127.0.0.1:8000/; then ok "daemon up, GET http://127.0.0.1:8000/ -> $EXPECT"
else fail "daemon up, GET http://127.0.0.1:8000/ -> $EXPECT"; tail -20 "$WORK/gatewayd.log" | sed 's/^/    /'; fi
check "GET over the unix socket -> $EXPECT" body_is "$EXPECT" http://localhost/ --unix-socket "$SOCK"
check "master runs as root, the 2 workers as gatewayd" workers_are_gatewayd
check "unix socket mode 0660" bash -c "[ \"\$(stat -c %a $SOCK)\" = 660 ]"
chgrp www-data "$SOCK"

# nginx with the shipped site file (on a spare port), to the unix socket.
if command -v nginx >/dev/null && getent passwd www-data >/dev/null; then
    NGINX_CONF="$WORK/nginx.conf"
    sed -e 's/listen 80;/listen 127.0.0.1:18080;/' -e '/listen \[::\]:80;/d' -e "s#/var/log/nginx/#$WORK/#" \
        /usr/share/doc/gatewayd/examples/nginx-gatewayd.conf >"$WORK/site.conf"
    chmod 755 "$WORK"
    cat >"$NGINX_CONF" <<EOF
user www-data;
pid $WORK/nginx.pid;
error_log $WORK/nginx-error.log;
events {}
http {
    client_body_temp_path $WORK/nginx-body;
    proxy_temp_path $WORK/nginx-proxy;
    include $WORK/site.conf;
}
EOF
    check "nginx -t with the site file" nginx -t -c "$NGINX_CONF"
    if nginx -c "$NGINX_CONF" 2>"$WORK/nginx-start.log" && wait_for body_is "$EXPECT" http://127.0.0.1:18080/; then
        ok "GET through nginx (www-data) -> unix socket -> $EXPECT"
        check "nginx reuses the upstream connection (keepalive)" \
            bash -c "for i in 1 2 3; do curl -s -m 5 http://127.0.0.1:18080/ >/dev/null; done; ss -x | grep -q '$SOCK'"
    else
        fail "GET through nginx (www-data) -> unix socket -> $EXPECT"
        cat "$WORK/nginx-start.log" "$WORK/nginx-error.log" "$WORK/gatewayd.error.log" 2>/dev/null | tail -10 | sed 's/^/    /'
    fi
    kill "$(cat "$WORK/nginx.pid" 2>/dev/null)" 2>/dev/null
    NGINX_CONF=""
else
    skip "nginx (not installed)"
fi

# systemctl reload = SIGHUP: a new generation of workers, still serving.
old_workers=$(ps -o pid= --ppid "$GW_PID" | sort | tr -d ' ' | tr '\n' ' ')
kill -HUP "$GW_PID"
check "SIGHUP (reload): new workers, still serving" \
    wait_for bash -c "[ \"\$(ps -o pid= --ppid $GW_PID | sort | tr -d ' ' | tr '\n' ' ')\" != '$old_workers' ] && [ \"\$(curl -s -m 5 http://127.0.0.1:8000/)\" = '$EXPECT' ]"
stop_daemon "own sockets"
check "unix socket removed on exit" test ! -e "$SOCK"

# --- the packaged binary runs the C app and the WSGI loader too -------------
# (hello.so above is the Swift app, self-contained: see docs/swift-sdk.md)
/usr/sbin/gatewayd -c /etc/gatewayd.conf --app /usr/lib/gatewayd/apps/hello-c.so --bind 127.0.0.1:18001 \
    >"$WORK/gatewayd-c.log" 2>&1 &
GW_PID=$!
check "packaged binary serves the C app" wait_for body_is "$EXPECT" http://127.0.0.1:18001/
stop_daemon "C app"
if [ -f /usr/lib/gatewayd/apps/wsgi.so ]; then
    mkdir -p "$WORK/py"; chmod 755 "$WORK" "$WORK/py"
    printf 'def application(environ, start_response):\n    start_response("200 OK", [("Content-Type", "text/plain")])\n    return [b"Hello from WSGI"]\n' \
        >"$WORK/py/hello_wsgi.py"
    chmod 644 "$WORK/py/hello_wsgi.py"
    printf 'bind = ["127.0.0.1:18002"]\nworkers = 2\napp = "/usr/lib/gatewayd/apps/wsgi.so"\nuser = "gatewayd"\n[app_args]\napp = "hello_wsgi:application"\npythonpath = "%s"\n' \
        "$WORK/py" >"$WORK/wsgi.conf"
    /usr/sbin/gatewayd -c "$WORK/wsgi.conf" >"$WORK/gatewayd-wsgi.log" 2>&1 &
    GW_PID=$!
    if wait_for body_is "Hello from WSGI" http://127.0.0.1:18002/; then ok "packaged WSGI loader (Debian python3) serves a WSGI app"
    else fail "packaged WSGI loader (Debian python3) serves a WSGI app"; tail -20 "$WORK/gatewayd-wsgi.log" | sed 's/^/    /'; fi
    stop_daemon "WSGI app"
else
    fail "the package ships /usr/lib/gatewayd/apps/wsgi.so"
fi

# --- socket activation: the sockets of gatewayd.socket, same config --------
if command -v systemd-socket-activate >/dev/null; then
    systemd-socket-activate -l "$SOCK" -l 127.0.0.1:8000 --fdname=gatewayd:gatewayd \
        /usr/sbin/gatewayd -c /etc/gatewayd.conf >"$WORK/gatewayd.log" 2>&1 &
    GW_PID=$!
    wait_for test -S "$SOCK"
    # The first connection starts gatewayd (systemd-socket-activate execs it, same pid).
    if wait_for body_is "$EXPECT" http://127.0.0.1:8000/; then ok "socket activation: GET over TCP -> $EXPECT"
    else fail "socket activation: GET over TCP -> $EXPECT"; tail -20 "$WORK/gatewayd.log" | sed 's/^/    /'; fi
    check "socket activation: GET over the unix socket -> $EXPECT" body_is "$EXPECT" http://localhost/ --unix-socket "$SOCK"
    check "socket activation: inherited sockets served, none bound" \
        bash -c "grep -q 'serving on inherited socket' '$WORK/gatewayd.log' && ! grep -q 'listening on' '$WORK/gatewayd.log'"
    check "socket activation: workers run as gatewayd" workers_are_gatewayd
    stop_daemon "socket activation"
    rm -f "$SOCK"
else
    skip "socket activation (systemd-socket-activate not installed)"
fi

if [ "${TEST_DEB_SYSTEMD:-0}" = 1 ]; then
    systemd_tests
else
    skip "under systemd (TEST_DEB_SYSTEMD=1 boots the package in systemd-nspawn)"
fi

# --- purge -----------------------------------------------------------------
check "dpkg --purge gatewayd" dpkg --purge gatewayd
check "purged: binary, conffile, units and logs gone" \
    test ! -e /usr/sbin/gatewayd -a ! -e /etc/gatewayd.conf -a ! -e /lib/systemd/system/gatewayd.service -a ! -e /var/log/gatewayd
check "purged: no gatewayd process left" bash -c '! pgrep -f "^/usr/sbin/gatewayd" && ! pgrep -u gatewayd'

finish
