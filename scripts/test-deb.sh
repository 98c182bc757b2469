#!/usr/bin/env bash
# End-to-end test of the Debian packages gatewayd and gatewayd-wsgi, as root
# on a Debian 12 machine without systemd as PID 1 (a CI machine: on one
# with systemd running, installing the package would start its service):
#
#     scripts/test-deb.sh [gatewayd_*.deb [gatewayd-wsgi_*.deb]]
#
# Builds both .debs (dpkg-buildpackage, unless given), runs lintian on each
# and checks their control fields, installs both as a user would
# (`apt-get install ./gatewayd_*.deb ./gatewayd-wsgi_*.deb`, dependencies
# from the archive), checks the configuration, runs the installed daemon
# with the shipped /etc/gatewayd.conf (started directly, as root, so the
# workers drop to user gatewayd), requests / over TCP, over the unix socket
# and through nginx with the shipped site file, reloads it, stops it with
# SIGTERM (exit 0), serves the C app and a WSGI app, does the same under
# socket activation (systemd-socket-activate, with the addresses and names
# of gatewayd.socket), runs systemd-analyze verify, and purges both.
# Port 8000 and /run/gatewayd must be free (it waits up to 2 minutes).
#
# Then, under real systemd, wherever it can (root, systemd-nspawn and
# debootstrap; scripts/deps.sh installs them): a Debian 12 minbase root
# without Python (made by debootstrap, cached in build/deb-root-cache/),
# gatewayd installed alone with `dpkg -i`, booted with systemd-nspawn: the
# service as installed, reload, stop, the socket unit, binary upgrade, then
# gatewayd-wsgi installed with apt-get in the booted system and a WSGI app
# served by the service. Where it cannot run, one line says why;
# TEST_DEB_SYSTEMD=0 skips it; with CI=true a skip on a machine that could
# run it is a failure.
# The last line is "N passed, N failed[, N skipped]"; the exit code is
# non-zero when anything failed.
set -u

ROOT=$(cd "$(dirname "$0")/.." && pwd)
WORK=$(mktemp -d /tmp/test-deb.XXXXXX)
SOCK=/run/gatewayd/gatewayd.sock
EXPECT="Hello, World!"
WSGI_EXPECT="Hello from WSGI"
passed=0 failed=0 skipped=0
GW_PID="" NGINX_CONF=""

ok()   { passed=$((passed + 1)); echo "ok - $*"; }
fail() { failed=$((failed + 1)); echo "FAIL - $*"; }
skip() { skipped=$((skipped + 1)); echo "skip - $*"; }
# check NAME COMMAND...: passes when COMMAND succeeds. Inside the container
# a failure also shows the service's last journal lines.
check() {
    local name=$1; shift
    if "$@" >"$WORK/check.out" 2>&1; then ok "$name"; return 0; fi
    fail "$name"; sed 's/^/    /' "$WORK/check.out" | tail -20
    if [ -n "${INSIDE:-}" ]; then journalctl -u gatewayd -n 15 --no-pager -o cat 2>&1 | sed 's/^/    journal: /'; fi
    return 1
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
# A tiny PEP 3333 app, written to DIR/hello_wsgi.py.
write_wsgi_app() {
    mkdir -p "$1"
    printf 'def application(environ, start_response):\n    start_response("200 OK", [("Content-Type", "text/plain")])\n    return [b"%s"]\n' \
        "$WSGI_EXPECT" >"$1/hello_wsgi.py"
    chmod 755 "$1"; chmod 644 "$1/hello_wsgi.py"
}

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

# --- inside the container: gatewayd-test.service, after boot ----------------
# /nsp holds this script and gatewayd-wsgi's .deb; the root has gatewayd
# installed (dpkg -i, no Python) and apt's lists and the .debs gatewayd-wsgi
# pulls in, downloaded beforehand: the container has no network. (Not
# `apt-get --no-download`: apt 2.6 then fails on a local .deb with "Internal
# Error, Pathname to install is not absolute".)
inside_systemd() {
    INSIDE=1
    hello() { [ "$(curl -s -m 10 "$@")" = "$EXPECT" ]; }
    wsgi_hello() { local got; got=$(curl -s -m 10 "$@"); echo "got: '$got'"; [ "$got" = "$WSGI_EXPECT" ]; }
    www() { setpriv --reuid=www-data --regid=www-data --clear-groups \
                curl -s -m 10 --unix-socket "$SOCK" http://localhost/ | grep -qx "$EXPECT"; }
    stopped_ok() { local r; r=$(systemctl show gatewayd -p Result -p ExecMainStatus | tr '\n' ' '); echo "$r"
                   [[ $r == *"Result=success ExecMainStatus=0"* ]]; }
    served() { systemctl is-active gatewayd && hello http://127.0.0.1:8000/; }
    mainpid() { systemctl show -p MainPID --value gatewayd; }
    worker_pids() { ps -o pid= --ppid "$(mainpid)" | tr -d ' ' | sort | tr '\n' ' '; }
    workers() { [ "$(ps -o user= --ppid "$(mainpid)" | tr -d ' ' | sort -u)" = gatewayd ]; }
    # The master: gatewayd's uid, no capability in any set.
    master_unprivileged() {
        local s; s=$(cat "/proc/$(mainpid)/status")
        grep -E '^(Uid|CapPrm|CapEff|CapBnd|CapAmb):' <<<"$s" | tr '\n' ' '; echo
        [ "$(awk '/^Uid:/ {print $2}' <<<"$s")" = "$(id -u gatewayd)" ] &&
            [ "$(grep -cE '^Cap(Prm|Eff|Bnd|Amb):[[:space:]]+0+$' <<<"$s")" = 4 ]
    }
    # The hostile test app (Examples/hostile): each thing a compromised app
    # tries, refused under the unit, and the request answered. Asked about
    # the other worker (ptrace, kill, its memory), so answered by this one.
    hostile_refused() {
        local r served other i
        # The sibling named is a worker other than the one that served the
        # last request (one idle worker often takes every new connection).
        for i in $(seq 1 20); do
            served=$(curl -s -m 10 http://127.0.0.1:8000/ | sed -n 's/^{"pid": \([0-9]*\),.*/\1/p')
            other=$(worker_pids | tr ' ' '\n' | grep -vx "$served" | grep . | head -1)
            r=$(curl -s -m 10 "http://127.0.0.1:8000/?sibling=$other&write=/var/log/gatewayd/planted")
            [[ -n $other && $r != *"\"pid\": $other,"* ]] && break
        done
        echo "$r"
        # Older kernels: no TCP bind rule before Landlock ABI 4 (6.7), no
        # signal scoping before ABI 6 (6.12).
        kernel_before 6.7 && r=${r/'"bind_tcp": "ok"'/}
        kernel_before 6.12 && r=${r/'"kill_sibling": "ok"'/}
        # Every answer an error that refuses (ENOENT: the master's /proc
        # entry, hidden by ProtectProc=invisible since it is not dumpable).
        [[ $r == '{"pid": '* && $r == *'"kill_master": "EPERM"'* ]] &&
            ! sed 's/"pid": [0-9]*,//' <<<"$r" | grep -oE '": "[^"]*"' | grep -vqE '": "(EPERM|EACCES|ENOENT|no name)"$' &&
            [ ! -e /var/log/gatewayd/planted ]
    }
    kernel_before() { [ "$(printf '%s\n' "$1" "$(uname -r | cut -d- -f1)" | sort -V | head -1)" != "$1" ]; }
    timeout_504() {
        local code; code=$(curl -s -o /dev/null -w '%{http_code}' -m 20 "http://127.0.0.1:8000/sleep?seconds=30")
        echo "got $code"; [ "$code" = 504 ]
    }
    with_app() {  # with_app APP [sed script]: /etc/gatewayd.conf serves APP, restarted
        cp /nsp/gatewayd.conf.orig /etc/gatewayd.conf
        sed -i "s|^app = .*|app = \"$1\"|; ${2:-}" /etc/gatewayd.conf
        systemctl restart gatewayd && wait_for systemctl is-active gatewayd
    }
    wait_for systemctl is-active gatewayd
    check "systemd: gatewayd.service enabled and active after boot" \
        bash -c 'systemctl is-enabled gatewayd && systemctl is-active gatewayd'
    check "systemd: status line from the master" bash -c 'systemctl show -p StatusText gatewayd | grep workers'
    check "systemd: GET over TCP" hello http://127.0.0.1:8000/
    check "systemd: GET over the unix socket" hello --unix-socket "$SOCK" http://localhost/
    check "systemd: www-data (nginx) may connect to the socket" www
    check "systemd: workers run as gatewayd" workers
    check "systemd: the master runs as gatewayd with no capability" master_unprivileged
    cp /etc/gatewayd.conf /nsp/gatewayd.conf.orig
    check "systemd: the hostile app in place of hello" with_app /nsp/hostile.so
    check "systemd: the hostile app's every attempt refused, the request answered" hostile_refused
    check "systemd: a test app with timeout = 1" with_app /nsp/testapp.so 's|^timeout = .*|timeout = 1|'
    check "systemd: a request past the timeout gets the master's 504 (pidfd_getfd, no CAP_SYS_PTRACE)" timeout_504
    cp /nsp/gatewayd.conf.orig /etc/gatewayd.conf
    check "systemd: back to hello, restarted" with_app /usr/lib/gatewayd/apps/hello.so
    check "systemd: hello served again" served
    # Four starts in a few seconds: the socket unit's restarts below would
    # hit the default start limit (5 in 10 s).
    systemctl reset-failed gatewayd
    local old_main old_workers
    old_main=$(mainpid) old_workers=$(worker_pids)
    check "systemd: systemctl reload exits 0" systemctl reload gatewayd
    check "systemctl reload: new generation (same master, new workers), still serving" \
        wait_for bash -c "[ \"\$(systemctl show -p MainPID --value gatewayd)\" = $old_main ] &&
            [ \"\$(ps -o pid= --ppid $old_main | tr -d ' ' | sort | tr '\n' ' ')\" != '$old_workers' ] &&
            systemctl show -p StatusText gatewayd | grep -q 'generation 2' &&
            [ \"\$(curl -s -m 5 http://127.0.0.1:8000/)\" = '$EXPECT' ]"
    check "systemd: systemctl stop exits 0" systemctl stop gatewayd
    check "systemd: systemctl stop, master exited 0" stopped_ok

    systemctl start gatewayd.socket
    check "socket unit: service inactive before the first connection" bash -c '! systemctl is-active gatewayd'
    check "socket unit: the first connection starts the service" hello --unix-socket "$SOCK" http://localhost/
    sleep 1
    check "socket unit: service active, GET over TCP" served
    check "socket unit: inherited sockets served" bash -c 'journalctl -u gatewayd -o cat | grep "serving on inherited socket"'
    check "socket unit: www-data may connect" www
    systemctl stop gatewayd
    check "socket unit: socket kept while the service is stopped" \
        bash -c "! systemctl is-active gatewayd && systemctl is-active gatewayd.socket && test -S $SOCK"
    check "socket unit: a connection restarts the stopped service" hello http://127.0.0.1:8000/
    check "socket unit: service active again" wait_for systemctl is-active gatewayd
    systemctl stop gatewayd gatewayd.socket
    check "socket unit: stop, master exited 0" stopped_ok

    systemctl start gatewayd
    local old
    old=$(mainpid)
    systemctl kill --kill-whom=main --signal=USR2 gatewayd
    check "binary upgrade (SIGUSR2): new MAINPID" \
        wait_for bash -c "p=\$(systemctl show -p MainPID --value gatewayd); [ \"\$p\" != $old ] && [ \"\$p\" != 0 ] && ! kill -0 $old"
    check "binary upgrade: service active, still serving" served
    check "binary upgrade: stop" timeout 60 systemctl stop gatewayd
    check "binary upgrade: stop, master exited 0" stopped_ok

    # The WSGI loader, added the way a user adds it to a running system.
    systemctl start gatewayd
    check "gatewayd-wsgi: apt-get install in the booted system (python3 from the archive)" \
        apt-get install -y -q --no-install-recommends /nsp/gatewayd-wsgi.deb
    check "gatewayd-wsgi: python3 and libpython3 came with it" \
        bash -c "dpkg-query -W -f='\${db:Status-Abbrev} \${Package}\n' python3 'libpython3.*' | grep -E '^ii +(python3|libpython3\.[0-9]+)$'"
    check "gatewayd-wsgi: the service was left alone (still serving hello)" served
    write_wsgi_app /srv/hello
    sed -i 's#^app = .*#app = "/usr/lib/gatewayd/apps/wsgi.so"#' /etc/gatewayd.conf
    printf 'app = "hello_wsgi:application"\nchdir = "/srv/hello"\n' >>/etc/gatewayd.conf
    old_main=$(mainpid)
    check "gatewayd-wsgi: systemctl reload onto wsgi.so" systemctl reload gatewayd
    check "gatewayd-wsgi: the service serves the WSGI app over TCP" wait_for wsgi_hello http://127.0.0.1:8000/
    check "gatewayd-wsgi: ... and over the unix socket" wsgi_hello --unix-socket "$SOCK" http://localhost/
    check "gatewayd-wsgi: same master, workers run Python as gatewayd" \
        bash -c "[ \"\$(systemctl show -p MainPID --value gatewayd)\" = $old_main ] &&
            for w in \$(ps -o pid= --ppid $old_main); do
                [ \"\$(ps -o user= -p \$w | tr -d ' ')\" = gatewayd ] && grep -q libpython3 /proc/\$w/maps || exit 1; done"
    # The test starts the service more often than StartLimitBurst (5 in
    # 10 s) allows; reset-failed clears the count, as an operator would.
    systemctl reset-failed gatewayd
    check "gatewayd-wsgi: systemctl restart (a cold start on the WSGI app)" systemctl restart gatewayd
    check "gatewayd-wsgi: active after restart, serving the WSGI app" \
        bash -c "systemctl is-active gatewayd && curl -s -m 10 http://127.0.0.1:8000/ | grep -qx '$WSGI_EXPECT'"

    # README.Debian's Flask example, as written there.
    local readme=/usr/share/doc/gatewayd-wsgi/README.Debian
    check "Flask: apt-get install python3-flask" apt-get install -y -q --no-install-recommends python3-flask
    awk '/^\/srv\/hello\/hello.py/ {on = 1; next} /^In \/etc\/gatewayd.conf/ {on = 0} on {sub(/^    /, ""); print}' \
        "$readme" >/srv/hello/hello.py
    chmod 644 /srv/hello/hello.py
    sed -i '/^\[app_args\]/,$d' /etc/gatewayd.conf
    awk '/^    \[app_args\]/ {on = 1} on && !NF {exit} on && sub(/^    /, "")' "$readme" >>/etc/gatewayd.conf
    check "Flask: README.Debian's example config is valid" bash -c \
        "grep -A2 '^\[app_args\]' /etc/gatewayd.conf; gatewayd --check-config -c /etc/gatewayd.conf"
    check "Flask: systemctl reload" systemctl reload gatewayd
    check "Flask: README.Debian's app served by the service" \
        wait_for bash -c "curl -s -m 10 http://127.0.0.1:8000/ | grep -qx 'Hello from Flask'"
    check "gatewayd-wsgi: stop" systemctl stop gatewayd
    check "gatewayd-wsgi: stop, master exited 0" stopped_ok
    exit 0
}
if [ "${1:-}" = --inside-systemd ]; then
    inside_systemd
fi

if [ "$(id -u)" != 0 ]; then
    skip "test-deb: not root (it installs and purges packages and boots a container): not run"
    finish
fi
export DEBIAN_FRONTEND=noninteractive

# --- under systemd ----------------------------------------------------------
SUITE=bookworm
# What the container needs besides minbase: systemd as init, gatewayd's
# dependencies (so that `dpkg -i` alone installs it), and the test's tools.
# No Python: gatewayd must not need it.
ROOT_INCLUDE=systemd,systemd-sysv,dbus,curl,adduser,procps,libsystemd0,libstdc++6,libgcc-s1
# Downloaded into the root's apt cache, not installed: what gatewayd-wsgi
# pulls in (and Flask, for README.Debian's example), so that apt-get
# installs them inside the container (no network).
ROOT_PREFETCH="python3 libpython3.11 python3-flask"
# DEB_ROOT_CACHE: keep it elsewhere (a fresh clone has no build/).
CACHE_DIR=${DEB_ROOT_CACHE:-$ROOT/build/deb-root-cache}

# Debian's mirror, as this machine's apt has it.
debian_mirror() {
    local m
    m=$(grep -hoE '^(URIs:|deb) +[a-z]+://[^ ]+/debian/?( |$)' /etc/apt/sources.list /etc/apt/sources.list.d/*.list \
            /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '{print $2}' | head -1)
    echo "${m:-http://deb.debian.org/debian}"
}

# The cached root, keyed by the suite and the package lists.
root_cache_dir() {
    echo "$CACHE_DIR/$SUITE-$(printf '%s\n' 2 "$SUITE" "$ROOT_INCLUDE" "$ROOT_PREFETCH" | sha256sum | cut -c1-12)"
}

# The minbase root, from the cache or made (and cached) now. Prints its path.
cached_root() {
    local dir mirror
    dir=$(root_cache_dir)
    if [ -d "$dir" ]; then echo "$dir"; return 0; fi
    mirror=$(debian_mirror)
    echo "systemd: debootstrap $SUITE from $mirror into $dir (cold; cached for the next runs) ..." >&2
    mkdir -p "$CACHE_DIR"
    rm -rf "$dir.tmp"
    debootstrap --variant=minbase --include="$ROOT_INCLUDE" "$SUITE" "$dir.tmp" "$mirror" \
        >"$WORK/debootstrap.log" 2>&1 || { tail -5 "$WORK/debootstrap.log" >&2; return 1; }
    { chroot "$dir.tmp" apt-get clean && chroot "$dir.tmp" apt-get update -q &&
      chroot "$dir.tmp" apt-get install -y -q --download-only --no-install-recommends $ROOT_PREFETCH; } \
        >"$WORK/prefetch.log" 2>&1 || { tail -5 "$WORK/prefetch.log" >&2; return 1; }
    mv "$dir.tmp" "$dir"
    # Older roots (another package list) are not needed any more.
    find "$CACHE_DIR" -mindepth 1 -maxdepth 1 ! -path "$dir" -exec rm -rf {} +
    echo "$dir"
}

python_absent() {
    local found
    found=$(chroot "$1" sh -c 'ls -d /usr/bin/python* /usr/lib/*/libpython3* /usr/lib/python3* 2>/dev/null;
        dpkg-query -W -f="\${db:Status-Abbrev} \${Package}\n" "python3*" "libpython3*" 2>/dev/null | grep "^ii"')
    [ -z "$found" ] || { echo "in the root: $found"; return 1; }
}

# Why the boot under systemd cannot run here (empty: it can).
systemd_unavailable() {
    command -v systemd-nspawn >/dev/null || { echo "no systemd-nspawn (apt-get install systemd-container)"; return; }
    command -v debootstrap >/dev/null || { echo "no debootstrap (apt-get install debootstrap)"; return; }
    [ -d /sys/fs/cgroup ] || { echo "no cgroup file system for systemd-nspawn"; return; }
}

systemd_tests() {
    local started=$SECONDS cache root how=warm
    [ -d "$(root_cache_dir)" ] || how=cold
    if ! cache=$(cached_root); then fail "systemd: debootstrap a $SUITE minbase root"; return; fi
    root="$WORK/rootfs"
    cp -a "$cache" "$root"
    check "systemd: the $SUITE minbase root has no Python" python_absent "$root"
    cp "$DEB" "$root/root/gatewayd.deb"
    check "systemd: dpkg -i gatewayd (alone) in the root without Python" chroot "$root" dpkg -i /root/gatewayd.deb
    check "systemd: still no Python after installing gatewayd" python_absent "$root"
    # (In systemd-nspawn, not chroot: the Swift runtime needs /proc.)
    check "systemd: gatewayd --check-config runs in the root" systemd-nspawn -q -D "$root" --private-network \
        --register=no --keep-unit /usr/sbin/gatewayd --check-config -c /etc/gatewayd.conf
    mkdir -p "$root/nsp"
    cp "$ROOT/scripts/test-deb.sh" "$root/nsp/test-deb.sh"
    cp "$WSGI_DEB" "$root/nsp/gatewayd-wsgi.deb"
    cp "$ROOT/build/apps/hostile.so" "$ROOT/build/apps/testapp.so" "$root/nsp/"
    # What gatewayd-wsgi needs, downloaded now (the cache has most of it;
    # nothing on a warm run): the container has no network.
    check "systemd: apt-get --download-only gatewayd-wsgi's dependencies" \
        chroot "$root" apt-get install -y -q --download-only --no-install-recommends /nsp/gatewayd-wsgi.deb
    printf '%s\n' '[Unit]' 'Description=gatewayd package test' 'After=gatewayd.service' \
        '[Service]' 'Type=oneshot' 'ExecStart=/bin/bash /nsp/test-deb.sh --inside-systemd' \
        'ExecStopPost=/bin/systemctl --no-block poweroff' \
        'StandardOutput=append:/nsp/result' 'StandardError=append:/nsp/result' \
        >"$root/etc/systemd/system/gatewayd-test.service"
    ln -sf /etc/systemd/system/gatewayd-test.service "$root/etc/systemd/system/multi-user.target.wants/"
    echo "systemd: booting the root (systemd-nspawn) ..."
    # pidfd_getfd (the master's 504 on a timeout) and Landlock (the workers'
    # sandbox) are not in nspawn 252's default system call filter. --private-network: port 8000 in there is its own.
    timeout 300 systemd-nspawn -D "$root" --private-network --register=no --keep-unit -M gatewayd-test \
        --system-call-filter="pidfd_getfd landlock_create_ruleset landlock_add_rule landlock_restrict_self" -b >"$WORK/nspawn.log" 2>&1
    if [ ! -s "$root/nsp/result" ]; then
        fail "systemd: the container ran the tests"; tail -20 "$WORK/nspawn.log" | sed 's/^/    /'; return
    fi
    cat "$root/nsp/result"
    passed=$((passed + $(grep -c '^ok - ' "$root/nsp/result")))
    failed=$((failed + $(grep -c '^FAIL - ' "$root/nsp/result")))
    grep -q 'gatewayd-wsgi: stop, master exited 0' "$root/nsp/result" \
        || fail "systemd: the tests in the container ran to the end"
    echo "systemd: $((SECONDS - started)) s ($how: root $( [ $how = cold ] && echo "made by debootstrap" || echo "from $cache"))"
}

# --- a host as fresh as a buildd -------------------------------------------
# The package creates its user "gatewayd" at install and, as Debian does,
# leaves it on purge: a user that an earlier run left and no installed
# package owns would hide a build that looks the user up (a buildd or a
# fresh machine has none). Remove it, and prove the build works without it.
# A package an interrupted run left installed is purged first.
if dpkg-query -W -f='${Status}\n' gatewayd gatewayd-wsgi 2>/dev/null | grep -q 'ok installed'; then
    echo "purging the gatewayd packages an earlier run left installed"
    apt-get purge -y -q gatewayd-wsgi gatewayd >/dev/null 2>&1 || dpkg --purge gatewayd-wsgi gatewayd
fi
if getent passwd gatewayd >/dev/null; then
    echo "removing the user gatewayd an earlier run left (no gatewayd package owns it now)"
    userdel gatewayd
fi
if getent group gatewayd >/dev/null; then groupdel gatewayd; fi
check "before the build: no user or group gatewayd on this host (as on a buildd)" \
    bash -c '! getent passwd gatewayd && ! getent group gatewayd'

# --- the packages ------------------------------------------------------------
bash "$ROOT/scripts/deps.sh" deb >"$WORK/deps.log" 2>&1 || { cat "$WORK/deps.log"; fail "installing the build and test tools"; }
version=$(cd "$ROOT" && dpkg-parsechangelog -SVersion)
arch=$(dpkg --print-architecture)
DEB=${1:-} WSGI_DEB=${2:-}
if [ -z "$DEB" ]; then
    echo "building the packages (dpkg-buildpackage -us -uc -b) ..."
    built="$(dirname "$ROOT")/gatewayd_${version}_${arch}.deb $(dirname "$ROOT")/gatewayd-wsgi_${version}_${arch}.deb"
    rm -f $built
    if (cd "$ROOT" && dpkg-buildpackage -us -uc -b) >"$WORK/build.log" 2>&1; then
        ok "dpkg-buildpackage -us -uc -b"
    else
        fail "dpkg-buildpackage -us -uc -b"; tail -40 "$WORK/build.log" | sed 's/^/    /'
        finish
    fi
    # dpkg-buildpackage writes to the parent directory: take a copy at once.
    mkdir -p "$WORK/debs"
    cp $built "$WORK/debs/" || { fail "dpkg-buildpackage wrote both .debs"; finish; }
    DEB="$WORK/debs/gatewayd_${version}_${arch}.deb"
fi
DEB=$(readlink -f "$DEB")
[ -n "$WSGI_DEB" ] || WSGI_DEB="$(dirname "$DEB")/gatewayd-wsgi_$(dpkg-deb -f "$DEB" Version)_$(dpkg-deb -f "$DEB" Architecture).deb"
WSGI_DEB=$(readlink -f "$WSGI_DEB")
[ -f "$DEB" ] && [ -f "$WSGI_DEB" ] || { fail "package files $DEB and $WSGI_DEB exist"; finish; }
echo "packages: $DEB $WSGI_DEB"

# lintian: no error and no warning (what is overridden is explained in
# debian/*.lintian-overrides and debian/README.source).
if command -v lintian >/dev/null; then
    for d in "$DEB" "$WSGI_DEB"; do
        n=$(dpkg-deb -f "$d" Package)
        lintian "$d" 2>&1 | grep -v 'running with root privileges' >"$WORK/lintian-$n.out"
        sed 's/^/    /' "$WORK/lintian-$n.out"
        check "lintian $n: no errors, no warnings" bash -c "! grep -qE '^[EW]:' '$WORK/lintian-$n.out'"
    done
else
    skip "lintian (not installed)"
fi

# The split: gatewayd needs no Python; gatewayd-wsgi needs exactly the
# libpython its wsgi.so links, and this very gatewayd.
check "gatewayd: no Python among its dependencies, no wsgi.so" \
    bash -c "dpkg-deb -f '$DEB' Depends Pre-Depends Recommends | tee /dev/stderr | grep -qi python && exit 1;
             ! dpkg-deb -c '$DEB' | grep -q wsgi.so"
check "gatewayd-wsgi: Depends: gatewayd (= $version)" \
    bash -c "dpkg-deb -f '$WSGI_DEB' Depends | tee /dev/stderr | tr ',' '\n' | grep -qx ' *gatewayd (= $version)'"
# wsgi.so links no libpython: it loads the one of the Python it serves with
# (/usr/bin/python3.X without a virtualenv), whose X.Y its Python half names.
check "gatewayd-wsgi: Depends on the libpython that wsgi.so loads" bash -c "
    x=\$(mktemp -d); trap 'rm -rf \$x' EXIT; dpkg-deb -x '$WSGI_DEB' \$x
    ! objdump -p \$x/usr/lib/gatewayd/apps/wsgi*.so | grep -q 'NEEDED.*libpython' || exit 1
    half=\$(ls \$x/usr/lib/gatewayd/apps/wsgi-python3.*.so); v=\${half##*wsgi-python}; v=\${v%.so}
    so=\$(/usr/bin/python\$v -c 'import sysconfig; print(sysconfig.get_config_var(\"INSTSONAME\"))')
    pkg=\$(dpkg -S \"*/\$so\" | cut -d: -f1 | sort -u); echo \"wsgi.so loads \$so, from \$pkg\"
    [ -n \"\$pkg\" ] && dpkg-deb -f '$WSGI_DEB' Depends | tr ',' '\n' | grep -qE \"^ *\$pkg( |\$)\""

# A socket file nobody listens on is left from an earlier run: remove it.
if [ -S "$SOCK" ] && ! curl -s -m 2 --unix-socket "$SOCK" http://localhost/ >/dev/null; then rm -f "$SOCK"; fi
# Another test run may hold them for a while: wait up to 2 minutes.
for i in $(seq 1 60); do port_free && [ ! -e "$SOCK" ] && break; sleep 2; done
if ! port_free || [ -e "$SOCK" ]; then
    fail "127.0.0.1:8000 and $SOCK are free (stop what uses them)"
    finish
fi

# --- install, as a user would ------------------------------------------------
check "apt-get install ./gatewayd_*.deb ./gatewayd-wsgi_*.deb" \
    apt-get install -y -q --no-install-recommends "$DEB" "$WSGI_DEB"
check "both installed" bash -c "dpkg-query -W -f='\${Status}\n' gatewayd gatewayd-wsgi | grep -c 'install ok installed' | grep -qx 2"
check "reinstall (postinst is idempotent)" dpkg -i "$DEB" "$WSGI_DEB"
check "system user and group gatewayd" bash -c 'getent passwd gatewayd && getent group gatewayd && [ "$(id -gn gatewayd)" = gatewayd ]'
check "files: daemon, apps, header, man page, units" \
    test -x /usr/sbin/gatewayd -a -f /usr/lib/gatewayd/apps/hello.so -a -f /usr/lib/gatewayd/apps/hello-c.so \
         -a -f /usr/include/gateway.h -a -f /usr/share/man/man8/gatewayd.8.gz \
         -a -f /lib/systemd/system/gatewayd.service -a -f /lib/systemd/system/gatewayd.socket
check "files: gatewayd-wsgi's loader and README.Debian" \
    test -f /usr/lib/gatewayd/apps/wsgi.so -a -f /usr/share/doc/gatewayd-wsgi/README.Debian
check "/etc/gatewayd.conf is a conffile" bash -c "dpkg-query -W -f='\${Conffiles}' gatewayd | grep -q ' /etc/gatewayd.conf '"
check "gatewayd --check-config -c /etc/gatewayd.conf" /usr/sbin/gatewayd --check-config -c /etc/gatewayd.conf

# systemd-analyze verify on the installed units: only "not found" noise for
# what this machine lacks may appear.
if command -v systemd-analyze >/dev/null; then
    systemd-analyze verify /lib/systemd/system/gatewayd.service /lib/systemd/system/gatewayd.socket >"$WORK/verify.out" 2>&1
    sed 's/^/    /' "$WORK/verify.out"
    check "systemd-analyze verify: no findings" \
        bash -c "! grep -v -E 'is not executable|No such file or directory|not found' '$WORK/verify.out' | grep -q ."
    # The unit's exposure (docs/sandbox.md): 4.6 before the sandbox issue,
    # 1.2 with the master as gatewayd; at most 2.0.
    exposure=$(systemd-analyze security --offline=true /lib/systemd/system/gatewayd.service 2>/dev/null |
               awk '/Overall exposure level/ {print $(NF-2)}')
    check "systemd-analyze security --offline: exposure ${exposure:-?}, at most 2.0" \
        awk -v e="$exposure" 'BEGIN { exit !(e != "" && e + 0 <= 2.0) }'
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
    chmod 755 "$WORK"; write_wsgi_app "$WORK/py"
    printf 'bind = ["127.0.0.1:18002"]\nworkers = 2\napp = "/usr/lib/gatewayd/apps/wsgi.so"\nuser = "gatewayd"\n[app_args]\napp = "hello_wsgi:application"\npythonpath = "%s"\n' \
        "$WORK/py" >"$WORK/wsgi.conf"
    /usr/sbin/gatewayd -c "$WORK/wsgi.conf" >"$WORK/gatewayd-wsgi.log" 2>&1 &
    GW_PID=$!
    if wait_for body_is "$WSGI_EXPECT" http://127.0.0.1:18002/; then ok "gatewayd-wsgi's loader (Debian python3) serves a WSGI app"
    else fail "gatewayd-wsgi's loader (Debian python3) serves a WSGI app"; tail -20 "$WORK/gatewayd-wsgi.log" | sed 's/^/    /'; fi
    stop_daemon "WSGI app"
else
    fail "gatewayd-wsgi ships /usr/lib/gatewayd/apps/wsgi.so"
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

# One line when it does not run. A CI machine that can run it must.
why=$(systemd_unavailable)
if [ -n "$why" ]; then
    skip "under systemd (debootstrap + systemd-nspawn): cannot run here: $why"
elif [ "${TEST_DEB_SYSTEMD:-1}" = 0 ] && [ "${CI:-}" = true ]; then
    fail "under systemd: skipped with TEST_DEB_SYSTEMD=0 on a CI machine that can run it"
elif [ "${TEST_DEB_SYSTEMD:-1}" = 0 ]; then
    skip "under systemd (debootstrap + systemd-nspawn): not run: TEST_DEB_SYSTEMD=0"
else
    systemd_tests
fi

# --- purge -----------------------------------------------------------------
check "dpkg --purge gatewayd-wsgi gatewayd" dpkg --purge gatewayd-wsgi gatewayd
check "purged: binary, loader, conffile, units and logs gone" \
    test ! -e /usr/sbin/gatewayd -a ! -e /usr/lib/gatewayd/apps/wsgi.so -a ! -e /etc/gatewayd.conf \
         -a ! -e /lib/systemd/system/gatewayd.service -a ! -e /var/log/gatewayd
check "purged: no gatewayd process left" bash -c '! pgrep -f "^/usr/sbin/gatewayd" && ! pgrep -u gatewayd'

# --- upgrade from 0.1.0-1, whose gatewayd shipped wsgi.so --------------------
# That package is remade from this one (gatewayd plus wsgi.so, version
# 0.1.0-1): the upgrade must move the file to gatewayd-wsgi (Replaces).
unsplit="$WORK/unsplit"
mkdir -p "$unsplit"
if dpkg-deb -R "$DEB" "$unsplit/pkg" && dpkg-deb -x "$WSGI_DEB" "$unsplit/wsgi" &&
   cp "$unsplit/wsgi/usr/lib/gatewayd/apps/wsgi.so" "$unsplit/pkg/usr/lib/gatewayd/apps/" &&
   sed -i 's/^Version: .*/Version: 0.1.0-1/' "$unsplit/pkg/DEBIAN/control" &&
   (cd "$unsplit/pkg" && find . -path ./DEBIAN -prune -o -type f -printf '%P\0' | xargs -0 md5sum >DEBIAN/md5sums) &&
   dpkg-deb -b "$unsplit/pkg" "$unsplit/gatewayd_0.1.0-1.deb" >/dev/null; then
    check "upgrade: the unsplit gatewayd 0.1.0-1 (with wsgi.so) installed" \
        bash -c "dpkg -i '$unsplit/gatewayd_0.1.0-1.deb' && dpkg -S /usr/lib/gatewayd/apps/wsgi.so | grep -qx 'gatewayd: .*'"
    # In the order of `dpkg -i gatewayd*.deb` ('-' sorts before '_'):
    # gatewayd-wsgi is unpacked while the old gatewayd still owns wsgi.so.
    check "upgrade: dpkg -i gatewayd-wsgi_*.deb gatewayd_*.deb over it" dpkg -i "$WSGI_DEB" "$DEB"
    check "upgrade: wsgi.so now belongs to gatewayd-wsgi" \
        bash -c "test -f /usr/lib/gatewayd/apps/wsgi.so && dpkg -S /usr/lib/gatewayd/apps/wsgi.so | tee /dev/stderr | grep -qx 'gatewayd-wsgi: .*'"
    check "upgrade: dpkg --purge gatewayd-wsgi gatewayd" dpkg --purge gatewayd-wsgi gatewayd
else
    fail "upgrade: remake the unsplit gatewayd 0.1.0-1"
fi

finish
