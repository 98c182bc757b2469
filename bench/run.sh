#!/usr/bin/env bash
# make bench: gatewayd side by side with nginx, granian, Hummingbird and
# Gunicorn, on loopback, every server with 2 workers, wrk against each in
# alternation, round after round. Run from the repository root. The WSGI
# workloads put gatewayd's loader (build/apps/wsgi.so) against granian and
# Gunicorn (sync, and gthread with 4 threads) on the same two apps.
#
#   ROUNDS=3        rounds (each round runs every server of every workload once)
#   DURATION=5      seconds of each wrk run
#   CONNECTIONS=50  wrk connections
#   WRK_THREADS=1   wrk threads (the machine has 2 cores for wrk and servers)
#   WORKLOADS="hello_ka hello_close bytes_64k echo_1m idle_100 proxied behind_nginx behind_nginx_wsgi
#              wsgi_hello wsgi_flask todo_list todo_create admin_ka
#              io_10ms_c64 io_10ms_c256 io_100ms_c64 io_100ms_c256 django_pg"
#                   (admin_ka: hello keep-alive, the admin listener on against off)
#                   behind_nginx: one nginx in front of one gatewayd (hello-c)
#                   over HTTP, uwsgi, FastCGI (keep-alive) and SCGI, unix
#                   sockets; behind_nginx_wsgi: the same nginx in front of
#                   gatewayd-wsgi (HTTP, uwsgi) and of uWSGI (uwsgi), the
#                   minimal WSGI callable
#                   io_*: app threads on long I/O, a WSGI app that sleeps
#                   10 or 100 ms (bench/apps/sleep_wsgi.py) at 64 or 256
#                   connections; django_pg: a Django view reading one row
#                   from PostgreSQL (bench/django_site), 64 connections.
#                   Both: gatewayd, Gunicorn gthread, granian and uWSGI,
#                   each 2 workers x 8 app threads, from build/bench-venv
#   SERVERS="gatewayd-2x8 uwsgi-2x8"  only these of each workload's servers
#                   (names as servers_of gives them; a targeted run, with
#                   QUICK=1: the report's ratios need the peers)
#   THREADS=8       app threads per worker in io_* and django_pg
#   GATEWAYD_THREADS=8  gatewayd's --threads there (default THREADS; another
#                   value only to try the scripts, and the report says so)
#   QUICK=1         smoke run: 1 round of 2 s, hello_ka hello_close proxied
#                   wsgi_hello wsgi_flask, no callgrind; writes
#                   bench/results/<timestamp>.json only
#   CALLGRIND=0     skip bench/callgrind.sh (instructions per request)
#   OVERLOAD=0      skip bench/overload.sh (twice the capacity, with and
#                   without shedding)
#   IDLE_MEMORY=0   skip the idle memory of every server (with QUICK=1 and
#                   WORKLOADS=admin_ka: gatewayd alone, no reference servers)
#   SKIP_BUILD=1    use build/bin/gatewayd and the Hummingbird binary as they are
#
# Writes bench/results/<timestamp>.json and bench/results/latest.json (and,
# not kept in git, the raw runs and every wrk output beside them), then
# docs/performance.md (bench/report.py).
set -euo pipefail
cd "$(dirname "$(readlink -f "$0")")/.."

if [ "${QUICK:-0}" = 1 ]; then
    ROUNDS=${ROUNDS:-1}
    DURATION=${DURATION:-2}
    WORKLOADS=${WORKLOADS:-"hello_ka hello_close proxied wsgi_hello wsgi_flask"}
    CALLGRIND=${CALLGRIND:-0}
    OVERLOAD=${OVERLOAD:-0}
fi
ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-5}
CONNECTIONS=${CONNECTIONS:-50}
WRK_THREADS=${WRK_THREADS:-1}
WORKLOADS=${WORKLOADS:-"hello_ka hello_close bytes_64k echo_1m idle_100 proxied behind_nginx behind_nginx_wsgi wsgi_hello wsgi_flask todo_list todo_create admin_ka io_10ms_c64 io_10ms_c256 io_100ms_c64 io_100ms_c256 django_pg"}
CALLGRIND=${CALLGRIND:-1}
OVERLOAD=${OVERLOAD:-1}
IDLE_MEMORY=${IDLE_MEMORY:-1}
export WORKERS=2

. bench/lib.sh
trap bench_cleanup EXIT
# Ctrl-C, TERM, HUP: stop here (servers, PostgreSQL, temporary files: the
# EXIT trap). Without these, Ctrl-C during a round would end only wrk (which
# exits 0 on SIGINT) and bash would go on with the next run.
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP
RAW="$BENCH_TMP/raw.jsonl"
: >"$RAW"
: >"$BENCH_TMP/wrk.log"
HUMMINGBIRD_BIN=.build-bench/release/HelloHummingbird
# The WSGI app (bench/apps) the Python servers serve: the minimal callable,
# except in wsgi_flask (run_workload sets it).
WSGI_APP=hello_wsgi:app
# The directory the app threads workloads' servers import it from.
WSGI_DIR=bench/apps

# threaded WORKLOAD: the app threads workloads (2 workers x THREADS threads).
threaded() { case $1 in io_* | django_pg) return 0 ;; *) return 1 ;; esac; }
# sleep_ms_of WORKLOAD: the app's wait in io_* (the cap is workers x threads / wait).
sleep_ms_of() { case $1 in io_10ms_*) echo 10 ;; io_100ms_*) echo 100 ;; *) echo 0 ;; esac; }
# connections_of WORKLOAD: wrk's connections.
connections_of() { case $1 in *_c256) echo 256 ;; *_c64 | django_pg) echo 64 ;; *) echo "$CONNECTIONS" ;; esac; }
selected() { case " $WORKLOADS " in *" $1 "*) return 0 ;; *) return 1 ;; esac; }
# chosen NAMES...: those in SERVERS (all when SERVERS is unset)
chosen() {
    local s out=()
    for s in "$@"; do
        case " ${SERVERS:-$s} " in *" $s "*) out+=("$s") ;; esac
    done
    echo "${out[*]:-}"
}
any_threaded() { local w; for w in $WORKLOADS; do threaded "$w" && return 0; done; return 1; }

# --- tools and builds -------------------------------------------------------

install_tools() {
    local want=(wrk nginx-light valgrind strace curl) missing=() p
    for p in "${want[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
    done
    if command -v nginx >/dev/null 2>&1; then missing=("${missing[@]/nginx-light}"); fi
    missing=($(printf '%s\n' "${missing[@]:-}" | grep -v '^$' || true))
    if [ ${#missing[@]} -gt 0 ]; then
        log "installing ${missing[*]}"
        local sudo=""
        [ "$(id -u)" = 0 ] || sudo=sudo
        DEBIAN_FRONTEND=noninteractive $sudo apt-get update -q
        DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
    fi
    if ! python3 -c 'import gunicorn, granian, flask' 2>/dev/null; then
        log "installing gunicorn, granian and flask (pip)"
        python3 -m pip install -q gunicorn granian flask
    fi
    if [ ! -x "$UWSGI_BIN" ]; then
        log "building uWSGI from PyPI (pip compiles it) into build/uwsgi-venv"
        python3 -m venv build/uwsgi-venv
        build/uwsgi-venv/bin/pip install -q uwsgi
    fi
    if any_threaded; then install_threads_tools; fi
}

# The app threads workloads: one venv for the four servers' apps (Gunicorn
# and granian run from it, gatewayd and uWSGI serve it as their virtualenv),
# made with the python3 on PATH (the one wsgi.so and uWSGI are built
# against); PostgreSQL from Debian for django_pg.
install_threads_tools() {
    local want
    want=$(python3 -c 'import sys; print("%d.%d" % sys.version_info[:2])')
    if [ -x "$BENCH_VENV/bin/python" ] &&
        [ "$("$BENCH_VENV/bin/python" -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null)" != "$want" ]; then
        log "build/bench-venv is not of Python $want: making it again"
        rm -rf "$BENCH_VENV"
    fi
    if ! "$BENCH_VENV/bin/python" -c 'import gunicorn, granian, django, psycopg' 2>/dev/null; then
        log "installing gunicorn, granian, Django and psycopg (pip) into $BENCH_VENV"
        [ -x "$BENCH_VENV/bin/python" ] || python3 -m venv "$BENCH_VENV"
        "$BENCH_VENV/bin/pip" install -q gunicorn granian django 'psycopg[binary]'
    fi
    if selected django_pg && [ -z "$(pg_bindir)" ]; then
        log "installing postgresql (apt-get)"
        local sudo=""
        [ "$(id -u)" = 0 ] || sudo=sudo
        DEBIAN_FRONTEND=noninteractive $sudo apt-get update -q
        DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends postgresql
        [ -n "$(pg_bindir)" ] || die "postgresql installed, but no /usr/lib/postgresql/*/bin"
    fi
}

build() {
    if [ "${SKIP_BUILD:-0}" != 1 ]; then
        log "building gatewayd and the apps (make, release)"
        make -s >"$BENCH_TMP/make.log" 2>&1 || { tail -30 "$BENCH_TMP/make.log"; die "make failed"; }
        log "building the Hummingbird reference (bench/hello-hummingbird, release)"
        swift build -c release --package-path bench/hello-hummingbird --scratch-path .build-bench \
            >"$BENCH_TMP/hummingbird-build.log" 2>&1 ||
            { tail -30 "$BENCH_TMP/hummingbird-build.log"; die "the Hummingbird build failed"; }
    fi
    [ -x build/bin/gatewayd ] || die "no build/bin/gatewayd"
    # (the idle memory measure runs it, and so do some workloads)
    local w need=$IDLE_MEMORY
    for w in $WORKLOADS; do case " $(servers_of "$w") " in *" hummingbird "*) need=1 ;; esac; done
    [ "$need" = 0 ] || [ -x "$HUMMINGBIRD_BIN" ] || die "no $HUMMINGBIRD_BIN"
    [ -f build/apps/wsgi.so ] || die "no build/apps/wsgi.so"
}

# --- servers ----------------------------------------------------------------
# A server is a name; start_named NAME starts it on a free port (or returns
# 1: the caller decides whether that ends the run) and records
# PORT_<id>, PID_<id> (the pid whose children are the workers).

id_of() { echo "${1//[^a-zA-Z0-9]/_}"; }

start_named() {
    local name=$1 id port
    id=$(id_of "$name")
    port=$(free_port)
    case $name in
        gatewayd-c) start_gatewayd "$name" "$port" "$PWD/build/apps/hello-c.so" ;;
        gatewayd-swift) start_gatewayd "$name" "$port" "$PWD/build/apps/hello.so" ;;
        gatewayd-testapp) start_gatewayd "$name" "$port" "$PWD/build/apps/testapp.so" ;;
        gatewayd-c-noadmin) start_gatewayd "$name" "$port" "$PWD/build/apps/hello-c.so" ;;
        # the admin listener on a unix socket and on TCP (issue 14: it costs the request path nothing)
        gatewayd-c-admin) start_gatewayd "$name" "$port" "$PWD/build/apps/hello-c.so" 2 \
            "admin_bind = [\"unix:$BENCH_TMP/admin.sock\", \"127.0.0.1:$(free_port)\"]" ;;
        gatewayd-todo) WAIT_PATH=/todos start_gatewayd "$name" "$port" "$PWD/build/apps/todo.so" 2 '[app_args]' 'seed = 10' 'log_level = "warning"' ;;
        nginx)
            nginx_reference_conf "$BENCH_TMP/nginx-ref.conf" "$port"
            start_nginx nginx-ref "$BENCH_TMP/nginx-ref.conf" "$port"
            ;;
        gatewayd-wsgi) start_gatewayd_wsgi "$name" "$port" "$WSGI_APP" ;;
        granian) start_granian "$name" "$port" "$WSGI_APP" ;;
        gunicorn | gunicorn-sync) start_gunicorn "$name" "$port" "$WSGI_APP" ;;
        gunicorn-gthread) start_gunicorn "$name" "$port" "$WSGI_APP" -k gthread --threads 4 ;;
        hummingbird) start_hummingbird "$name" "$port" ;;
        # the app threads workloads: 2 workers x THREADS app threads each
        gatewayd-2x8) start_gatewayd_threads "$name" "$port" "$WSGI_DIR" "$WSGI_APP" ;;
        gunicorn-gthread-2x8) start_gunicorn_threads "$name" "$port" "$WSGI_DIR" "$WSGI_APP" ;;
        granian-2x8) start_granian_threads "$name" "$port" "$WSGI_DIR" "$WSGI_APP" ;;
        uwsgi-2x8) start_uwsgi_threads "$name" "$port" "$WSGI_DIR" "$WSGI_APP" ;;
        *) die "unknown server $name" ;;
    esac || return 1
    printf -v "PORT_$id" '%s' "$port"
    printf -v "PID_$id" '%s' "$SERVER_PID"
}

# The proxied pair: one nginx in front of gatewayd (hello-c) and of Gunicorn,
# each on a unix socket. Sets PORT_/PID_ for "nginx+gatewayd-c" and
# "nginx+gunicorn" (the PID is the upstream server's: its workers are measured).
start_proxied() {
    local pa pb sa="$BENCH_TMP/gatewayd.sock" sb="$BENCH_TMP/gunicorn.sock"
    pa=$(free_port)
    pb=$(free_port)
    start_gatewayd gatewayd-up "$sa" "$PWD/build/apps/hello-c.so" || die "gatewayd (unix) did not start"
    PID_nginx_gatewayd_c=$SERVER_PID
    start_gunicorn gunicorn-up "$sb" || die "gunicorn (unix) did not start"
    PID_nginx_gunicorn=$SERVER_PID
    nginx_proxy_conf "$BENCH_TMP/nginx-proxy.conf" "$pa" "$sa" "$pb" "$sb"
    start_nginx nginx-proxy "$BENCH_TMP/nginx-proxy.conf" "$pa" || die "nginx (proxy) did not start"
    PROXY_PID=$SERVER_PID
    PORT_nginx_gatewayd_c=$pa
    PORT_nginx_gunicorn=$pb
}

# behind_nginx: one gatewayd (hello-c) on four unix sockets, one nginx
# server per protocol. Sets PORT_/PID_ for nginx+gatewayd-{http,httpclose,uwsgi,fastcgi,scgi}
# (httpclose: the same HTTP socket through nginx's default proxy_pass, a
# connection per request, as uwsgi_pass and scgi_pass always work).
start_behind_nginx() {
    local d="$BENCH_TMP/protocols" kind entries=() port id
    mkdir -p "$d"
    chmod 755 "$d"
    start_gatewayd_protocols gatewayd-protocols "$d" "$PWD/build/apps/hello-c.so" || die "gatewayd (protocols) did not start"
    local gw=$SERVER_PID
    local sock
    for kind in http httpclose uwsgi fastcgi scgi; do
        port=$(free_port)
        id=nginx_gatewayd_$kind
        printf -v "PORT_$id" '%s' "$port"
        printf -v "PID_$id" '%s' "$gw"
        case $kind in fastcgi) sock=fcgi ;; httpclose) sock=http ;; *) sock=$kind ;; esac
        entries+=("$kind $port $kind $d/$sock.sock")
    done
    nginx_protocols_conf "$BENCH_TMP/nginx-protocols.conf" "$BENCH_TMP/nginx-protocols.d" "${entries[@]}"
    start_nginx nginx-protocols "$BENCH_TMP/nginx-protocols.conf" "$PORT_nginx_gatewayd_http" || die "nginx (protocols) did not start"
}

# behind_nginx_wsgi: gatewayd-wsgi (HTTP and uwsgi sockets) and uWSGI (uwsgi)
# with the same app behind one nginx. Sets PORT_/PID_ for
# nginx+gatewayd-wsgi-http, nginx+gatewayd-wsgi-uwsgi and nginx+uwsgi.
start_behind_nginx_wsgi() {
    local d="$BENCH_TMP/wsgi-protocols" extra=()
    mkdir -p "$d"
    chmod 755 "$d"
    [ "$(id -u)" = 0 ] && extra+=("allow_root = true")
    extra+=("[app_args]" "app = \"$WSGI_APP\"" "pythonpath = \"$PWD/bench/apps\"")
    start_gatewayd_protocols gatewayd-wsgi-protocols "$d" "$PWD/build/apps/wsgi.so" "${extra[@]}" || die "gatewayd-wsgi (protocols) did not start"
    PID_nginx_gatewayd_wsgi_http=$SERVER_PID
    PID_nginx_gatewayd_wsgi_uwsgi=$SERVER_PID
    start_uwsgi uwsgi "$d/uwsgi-ref.sock" "$WSGI_APP"
    PID_nginx_uwsgi=$SERVER_PID
    PORT_nginx_gatewayd_wsgi_http=$(free_port)
    PORT_nginx_gatewayd_wsgi_uwsgi=$(free_port)
    PORT_nginx_uwsgi=$(free_port)
    nginx_protocols_conf "$BENCH_TMP/nginx-wsgi-protocols.conf" "$BENCH_TMP/nginx-wsgi-protocols.d" \
        "gwhttp $PORT_nginx_gatewayd_wsgi_http http $d/http.sock" \
        "gwuwsgi $PORT_nginx_gatewayd_wsgi_uwsgi uwsgi $d/uwsgi.sock" \
        "uwsgiref $PORT_nginx_uwsgi uwsgi $d/uwsgi-ref.sock"
    # start_nginx waits on its first server; uWSGI is waited for through nginx
    start_nginx nginx-wsgi-protocols "$BENCH_TMP/nginx-wsgi-protocols.conf" "$PORT_nginx_gatewayd_wsgi_http" ||
        die "nginx (wsgi protocols) did not start"
    wait_http "http://127.0.0.1:$PORT_nginx_uwsgi/" 30 || { tail -20 "$BENCH_TMP/uwsgi.log" >&2; die "uWSGI did not answer through nginx"; }
}

stop_all() {
    local p
    for p in "${BENCH_PIDS[@]:-}"; do [ -n "$p" ] && stop_server "$p"; done
    BENCH_PIDS=()
}

# --- workloads --------------------------------------------------------------

servers_of() {
    case $1 in
        hello_ka | hello_close | idle_100) echo "gatewayd-c gatewayd-swift nginx granian hummingbird gunicorn" ;;
        bytes_64k | echo_1m) echo "gatewayd-testapp nginx granian hummingbird gunicorn" ;;
        proxied) echo "nginx+gatewayd-c nginx+gunicorn" ;;
        behind_nginx) echo "nginx+gatewayd-http nginx+gatewayd-httpclose nginx+gatewayd-uwsgi nginx+gatewayd-fastcgi nginx+gatewayd-scgi" ;;
        behind_nginx_wsgi) echo "nginx+gatewayd-wsgi-http nginx+gatewayd-wsgi-uwsgi nginx+uwsgi" ;;
        wsgi_hello | wsgi_flask) echo "gatewayd-wsgi granian gunicorn-sync gunicorn-gthread" ;;
        todo_list | todo_create) echo "gatewayd-todo hummingbird" ;;
        admin_ka) echo "gatewayd-c-admin gatewayd-c-noadmin" ;;
        io_* | django_pg) echo "gatewayd-2x8 gunicorn-gthread-2x8 granian-2x8 uwsgi-2x8" ;;
    esac
}

# url_of WORKLOAD SERVER
url_of() {
    local id port path=/
    id=$(id_of "$2")
    port=PORT_$id
    case $1 in
        bytes_64k) path=/bytes; [ "$2" = gatewayd-testapp ] && path="/bytes?n=65536" ;;
        echo_1m) path=/echo ;;
        todo_list | todo_create) path=/todos ;;
        django_pg) path=/item/1/ ;;
    esac
    echo "http://127.0.0.1:${!port}$path"
}

check_kind() {
    case $1 in
        bytes_64k) echo bytes ;; echo_1m) echo echo ;; todo_list) echo todos ;; todo_create) echo todo ;;
        io_*) echo "sleep:$(sleep_ms_of "$1")" ;; django_pg) echo django ;;
        *) echo hello ;;
    esac
}

# run_wrk WORKLOAD SERVER SECONDS OUTFILE
run_wrk() {
    local extra=()
    case $1 in
        hello_close) extra=(-H "Connection: close") ;; # wrk needs the space after the colon
        echo_1m) extra=(-s bench/post_1m.lua) ;;
        todo_create) extra=(-s bench/post_todo.lua) ;;
        # wrk's 2 s timeout would cut the latency of a server queueing 256
        # connections for 100 ms requests (1.6 s each at the cap)
        io_* | django_pg) extra=(--timeout 30s) ;;
    esac
    wrk -t"$WRK_THREADS" -c"$(connections_of "$1")" -d"$3s" --latency "${extra[@]}" "$(url_of "$1" "$2")" >"$4" 2>&1 || true
}

# record WORKLOAD SERVER ROUND POSITION WRKFILE IDLEFILE WORKERS_BEFORE: one
# line in $RAW (IDLEFILE: the idle connections helper's output, or "";
# WORKERS_BEFORE: the worker pids before the run, to count replaced ones).
record() {
    local id pid workers
    id=$(id_of "$2")
    pid=PID_$id
    workers=$(workers_of "${!pid}")
    local threads=""
    if threaded "$1"; then threads=$THREADS; [ "${2%%-*}" = gatewayd ] && threads=$GATEWAYD_THREADS; fi
    python3 - "$@" "${!pid}" "$workers" "$(tree_of "${!pid}")" "$(connections_of "$1")" "$threads" <<'PY' >>"$RAW"
import json, subprocess, sys
workload, server, rnd, pos, wrkfile, idlefile, before, master, workers, tree, conns, threads = sys.argv[1:13]
run = json.loads(subprocess.check_output([sys.executable, "bench/measure.py", "wrk", wrkfile]))
pids = workers.split()
run.update(workload=workload, server=server, round=int(rnd), position=int(pos),
           workers_replaced=len(set(before.split()) - set(pids)),
           workers=json.loads(subprocess.check_output([sys.executable, "bench/measure.py", "mem"] + pids)),
           master=json.loads(subprocess.check_output([sys.executable, "bench/measure.py", "mem", master]))
                  if master not in pids else [],
           # the whole process tree (master, workers and anything below them)
           tree=json.loads(subprocess.check_output([sys.executable, "bench/measure.py", "mem"] + tree.split())),
           connections=int(conns))
if threads:
    run["threads"] = int(threads)
if idlefile:
    lines = open(idlefile).read().split("\n")
    stats = [l for l in lines if l.startswith("{")]
    run["idle_connections"] = json.loads(stats[-1]) if stats else {"opened": 0, "alive": 0}
print(json.dumps(run))
PY
    # every wrk output, kept beside the results (bench/results/STAMP-wrk.log)
    { echo "== $1 $2 round $3"; cat "$5"; } >>"$BENCH_TMP/wrk.log"
}

# record_failure WORKLOAD SERVER: a server of an app threads workload that
# did not start (or did not answer): one line in $RAW with the last line of
# its log, and the workload goes on with the others.
record_failure() {
    local why
    # the first error line (gatewayd: the worker's reason, which the
    # master's "halted" line repeats), else the last line; no timestamp
    why=$({ grep -E -m1 '\[(error|critical)\]|Error|error:' "$BENCH_TMP/$2.log" ||
        grep -v '^[[:space:]]*$' "$BENCH_TMP/$2.log" | tail -1; } 2>/dev/null |
        sed -E 's#^[0-9]+/[A-Za-z]+/[0-9:]+ [+-][0-9]+ ##' | cut -c1-400)
    log "  $2 did not start: $why"
    python3 -c 'import json, sys; print(json.dumps({"workload": sys.argv[1], "server": sys.argv[2], "failed": sys.argv[3]}))' \
        "$1" "$2" "did not start: ${why:-no log}" >>"$RAW"
}

# django_pg's database: PostgreSQL in $BENCH_TMP/pg, the app's one table
# and its rows (bench/django_site/setup_db.py, with the bench venv's Django).
start_django_db() {
    log "starting PostgreSQL ($(pg_bindir)) in $BENCH_TMP/pg"
    pg_start || die "PostgreSQL did not start"
    (cd bench/django_site && "$BENCH_VENV/bin/python" setup_db.py 100) >"$BENCH_TMP/setup_db.log" 2>&1 ||
        { tail -20 "$BENCH_TMP/setup_db.log" >&2; die "setup_db.py failed"; }
}

run_workload() {
    local w=$1 servers s r i n pos wrkout idleout hp
    # shellcheck disable=SC2046
    read -r -a servers <<<"$(chosen $(servers_of "$w"))"
    log "workload $w: ${servers[*]}"
    WSGI_APP=hello_wsgi:app
    WSGI_DIR=bench/apps
    [ "$w" = wsgi_flask ] && WSGI_APP=flask_app:app
    case $w in
        io_*) WSGI_APP=sleep_wsgi:sleep_$(sleep_ms_of "$w")ms ;;
        django_pg)
            WSGI_DIR=bench/django_site
            WSGI_APP=benchsite.wsgi:application
            # wait_server's path (the app has no "/"), for this workload's servers
            local WAIT_PATH=/item/1/
            start_django_db
            ;;
    esac
    if [ "$w" = proxied ]; then
        start_proxied
    elif [ "$w" = behind_nginx ]; then
        start_behind_nginx
    elif [ "$w" = behind_nginx_wsgi ]; then
        start_behind_nginx_wsgi
    elif threaded "$w"; then
        # a server that does not start is recorded as such, the others run
        local up=()
        for s in "${servers[@]}"; do
            if start_named "$s"; then up+=("$s"); else record_failure "$w" "$s"; fi
        done
        servers=("${up[@]}")
    else
        for s in "${servers[@]}"; do start_named "$s" || die "$s did not start"; done
    fi
    for s in "${servers[@]}"; do
        python3 bench/measure.py check "$(url_of "$w" "$s")" "$(check_kind "$w")" >/dev/null ||
            die "$s gives a wrong answer for $w: $(python3 bench/measure.py check "$(url_of "$w" "$s")" "$(check_kind "$w")" 2>&1 | tail -1)"
        run_wrk "$w" "$s" 1 /dev/null # warm-up
    done
    # the requests wrk left queued at the warm-up's end (256 connections of
    # 100 ms requests: 1.6 s at the cap) are served before the first round
    threaded "$w" && sleep 2
    n=${#servers[@]}
    for r in $(seq 1 "$ROUNDS"); do
        for i in $(seq 0 $((n - 1))); do
            # rotate the order each round: no server always runs first
            pos=$(((i + r - 1) % n))
            s=${servers[$pos]}
            wrkout="$BENCH_TMP/wrk-$w-$(id_of "$s")-$r.txt"
            idleout=""
            if [ "$w" = idle_100 ]; then
                idleout="$BENCH_TMP/idle-$(id_of "$s")-$r.txt"
                : >"$idleout"
                hp=$(url_of "$w" "$s" | sed -E 's#http://([^:]+):([0-9]+)/.*#\1 \2#')
                # shellcheck disable=SC2086
                python3 bench/idle_conns.py $hp 100 $((DURATION + 3)) >"$idleout" 2>&1 &
                local helper=$! t=0
                while ! grep -q '^ready' "$idleout" && [ $t -lt 100 ]; do sleep 0.1; t=$((t + 1)); done
            fi
            local pidvar=PID_$(id_of "$s")
            local before
            before=$(workers_of "${!pidvar}")
            run_wrk "$w" "$s" "$DURATION" "$wrkout"
            if [ -n "$idleout" ]; then wait "$helper" 2>/dev/null || true; fi
            record "$w" "$s" "$r" "$i" "$wrkout" "$idleout" "$before"
            log "  round $r $s: $(awk '/Requests\/sec/ {print $2}' "$wrkout") req/s"
        done
    done
    stop_all
    [ "$w" = django_pg ] && pg_stop
    return 0
}

# Memory of each server alone, idle after a short warm-up: the USS target.
measure_idle_memory() {
    local s id pid workers
    WSGI_APP=hello_wsgi:app
    for s in gatewayd-c gatewayd-swift gatewayd-wsgi nginx granian hummingbird gunicorn; do
        start_named "$s" || die "$s did not start"
        wrk -t1 -c4 -d1s "$(url_of hello_ka "$s")" >/dev/null 2>&1 || true
        sleep 1
        id=$(id_of "$s")
        pid=PID_$id
        workers=$(workers_of "${!pid}")
        python3 - "$s" "${!pid}" "$workers" <<'PY' >>"$RAW"
import json, subprocess, sys
server, master, workers = sys.argv[1:4]
pids = workers.split()
mem = lambda p: json.loads(subprocess.check_output([sys.executable, "bench/measure.py", "mem"] + p))
print(json.dumps({"workload": "idle_memory", "server": server, "workers": mem(pids),
                  "master": mem([master]) if master not in pids else []}))
PY
        stop_all
    done
}

environment() {
    BENCH_VENV=$BENCH_VENV PG_BINDIR=$(pg_bindir) THREADS=$THREADS GATEWAYD_THREADS=$GATEWAYD_THREADS QUICK=${QUICK:-0} \
        python3 - "$ROUNDS" "$DURATION" "$CONNECTIONS" "$WRK_THREADS" "$NGINX_ECHO" <<'PY'
import json, os, platform, subprocess, sys
def out(*cmd):
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=20)
        return (r.stdout + r.stderr).strip().splitlines()[0]
    except Exception:
        return "?"
def resolved(name, path="bench/hello-hummingbird/Package.resolved"):
    try:
        for pin in json.load(open(path))["pins"]:
            if pin["identity"] == name:
                return pin["state"].get("version", "?")
    except Exception:
        pass
    return "?"
cpu = "?"
for line in open("/proc/cpuinfo"):
    if line.startswith("model name"):
        cpu = line.split(":", 1)[1].strip(); break
rounds, duration, conns, threads, echo = sys.argv[1:6]
venv = os.environ.get("BENCH_VENV", "")
venv_py = os.path.join(venv, "bin", "python")
def pkg(name):
    return out(venv_py, "-c", "import importlib.metadata as m; print(m.version(%r))" % name) if os.path.exists(venv_py) else "?"
pg = os.environ.get("PG_BINDIR", "")
print(json.dumps({
    "rounds": int(rounds), "duration_s": int(duration), "connections": int(conns),
    "wrk_threads": int(threads), "server_workers": 2, "nginx_echo": echo,
    "cores": os.cpu_count(), "cpu": cpu, "kernel": platform.release(),
    "loadavg_before": open("/proc/loadavg").read().split()[:3],
    "commit": out("git", "rev-parse", "--short", "HEAD"),
    "versions": {
        "nginx": out("nginx", "-v"), "wrk": out("wrk", "--version"),
        "granian": out(sys.executable, "-m", "granian", "--version"),
        "gunicorn": out(sys.executable, "-m", "gunicorn", "--version"),
        "swift": out("swift", "--version"), "python": platform.python_version(),
        "hummingbird": resolved("hummingbird"), "swift-nio": resolved("swift-nio"),
        "flask": out(sys.executable, "-c", "import importlib.metadata as m; print('Flask', m.version('flask'))"),
        "uwsgi": out("build/uwsgi-venv/bin/uwsgi", "--version"),
        # the app threads workloads' venv (build/bench-venv) and database
        "bench_venv": {n: pkg(n) for n in ("gunicorn", "granian", "django", "psycopg")},
        "postgresql": out(os.path.join(pg, "postgres"), "--version") if pg else "?",
    },
    "threads": int(os.environ.get("THREADS", "8")),
    "gatewayd_threads": int(os.environ.get("GATEWAYD_THREADS", "8")),
    "quick": os.environ.get("QUICK") == "1",
}))
PY
}

# --- main -------------------------------------------------------------------

started=$(date +%s)
install_tools
build
STAMP=$(date -u +%Y%m%dT%H%M%SZ)
ENV_JSON=$(environment)
log "rounds $ROUNDS x ${DURATION}s, $CONNECTIONS connections, workloads: $WORKLOADS"
[ "$IDLE_MEMORY" = 0 ] || measure_idle_memory
for w in $WORKLOADS; do run_workload "$w"; done

mkdir -p bench/results
cp "$RAW" "bench/results/$STAMP-raw.jsonl"
cp "$BENCH_TMP/wrk.log" "bench/results/$STAMP-wrk.log"
if [ "${QUICK:-0}" = 1 ]; then
    # a smoke run replaces neither latest.json nor docs/performance.md
    python3 bench/report.py --raw "$RAW" --env "$ENV_JSON" --stamp "$STAMP" --out "bench/results/$STAMP.json"
    log "done in $(($(date +%s) - started)) s: bench/results/$STAMP.json (QUICK: latest.json and docs/performance.md left alone)"
    exit 0
fi
python3 bench/report.py --raw "$RAW" --env "$ENV_JSON" --stamp "$STAMP" \
    --out "bench/results/$STAMP.json" --latest bench/results/latest.json
if [ "$CALLGRIND" = 1 ]; then
    bash bench/callgrind.sh || log "callgrind.sh failed (the figures in docs/performance.md are not updated)"
fi
if [ "$OVERLOAD" = 1 ]; then
    bash bench/overload.sh || log "overload.sh failed (its table in docs/performance.md is not updated)"
fi
python3 bench/report.py --results bench/results/latest.json --doc docs/performance.md
log "done in $(($(date +%s) - started)) s: bench/results/$STAMP.json, docs/performance.md"
