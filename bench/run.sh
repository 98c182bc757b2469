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
#              wsgi_hello wsgi_flask todo_list todo_create admin_ka"
#                   (admin_ka: hello keep-alive, the admin listener on against off)
#                   behind_nginx: one nginx in front of one gatewayd (hello-c)
#                   over HTTP, uwsgi, FastCGI (keep-alive) and SCGI, unix
#                   sockets; behind_nginx_wsgi: the same nginx in front of
#                   gatewayd-wsgi (HTTP, uwsgi) and of uWSGI (uwsgi), the
#                   minimal WSGI callable
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
WORKLOADS=${WORKLOADS:-"hello_ka hello_close bytes_64k echo_1m idle_100 proxied behind_nginx behind_nginx_wsgi wsgi_hello wsgi_flask todo_list todo_create admin_ka"}
CALLGRIND=${CALLGRIND:-1}
OVERLOAD=${OVERLOAD:-1}
IDLE_MEMORY=${IDLE_MEMORY:-1}
export WORKERS=2

. bench/lib.sh
trap bench_cleanup EXIT
RAW="$BENCH_TMP/raw.jsonl"
: >"$RAW"
: >"$BENCH_TMP/wrk.log"
HUMMINGBIRD_BIN=.build-bench/release/HelloHummingbird
# The WSGI app (bench/apps) the Python servers serve: the minimal callable,
# except in wsgi_flask (run_workload sets it).
WSGI_APP=hello_wsgi:app

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
# A server is a name; start_named NAME starts it on a free port and records
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
        *) die "unknown server $name" ;;
    esac || die "$name did not start"
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
    esac
    echo "http://127.0.0.1:${!port}$path"
}

check_kind() {
    case $1 in bytes_64k) echo bytes ;; echo_1m) echo echo ;; todo_list) echo todos ;; todo_create) echo todo ;; *) echo hello ;; esac
}

# run_wrk WORKLOAD SERVER SECONDS OUTFILE
run_wrk() {
    local extra=()
    case $1 in
        hello_close) extra=(-H "Connection: close") ;; # wrk needs the space after the colon
        echo_1m) extra=(-s bench/post_1m.lua) ;;
        todo_create) extra=(-s bench/post_todo.lua) ;;
    esac
    wrk -t"$WRK_THREADS" -c"$CONNECTIONS" -d"$3s" --latency "${extra[@]}" "$(url_of "$1" "$2")" >"$4" 2>&1 || true
}

# record WORKLOAD SERVER ROUND POSITION WRKFILE IDLEFILE WORKERS_BEFORE: one
# line in $RAW (IDLEFILE: the idle connections helper's output, or "";
# WORKERS_BEFORE: the worker pids before the run, to count replaced ones).
record() {
    local id pid workers
    id=$(id_of "$2")
    pid=PID_$id
    workers=$(workers_of "${!pid}")
    python3 - "$@" "${!pid}" "$workers" <<'PY' >>"$RAW"
import json, subprocess, sys
workload, server, rnd, pos, wrkfile, idlefile, before, master, workers = sys.argv[1:10]
run = json.loads(subprocess.check_output([sys.executable, "bench/measure.py", "wrk", wrkfile]))
pids = workers.split()
run.update(workload=workload, server=server, round=int(rnd), position=int(pos),
           workers_replaced=len(set(before.split()) - set(pids)),
           workers=json.loads(subprocess.check_output([sys.executable, "bench/measure.py", "mem"] + pids)),
           master=json.loads(subprocess.check_output([sys.executable, "bench/measure.py", "mem", master]))
                  if master not in pids else [])
if idlefile:
    lines = open(idlefile).read().split("\n")
    stats = [l for l in lines if l.startswith("{")]
    run["idle_connections"] = json.loads(stats[-1]) if stats else {"opened": 0, "alive": 0}
print(json.dumps(run))
PY
    # every wrk output, kept beside the results (bench/results/STAMP-wrk.log)
    { echo "== $1 $2 round $3"; cat "$5"; } >>"$BENCH_TMP/wrk.log"
}

run_workload() {
    local w=$1 servers s r i n pos wrkout idleout hp
    read -r -a servers <<<"$(servers_of "$w")"
    log "workload $w: ${servers[*]}"
    WSGI_APP=hello_wsgi:app
    [ "$w" = wsgi_flask ] && WSGI_APP=flask_app:app
    if [ "$w" = proxied ]; then
        start_proxied
    elif [ "$w" = behind_nginx ]; then
        start_behind_nginx
    elif [ "$w" = behind_nginx_wsgi ]; then
        start_behind_nginx_wsgi
    else
        for s in "${servers[@]}"; do start_named "$s"; done
    fi
    for s in "${servers[@]}"; do
        python3 bench/measure.py check "$(url_of "$w" "$s")" "$(check_kind "$w")" >/dev/null ||
            die "$s gives a wrong answer for $w: $(python3 bench/measure.py check "$(url_of "$w" "$s")" "$(check_kind "$w")" 2>&1 | tail -1)"
        run_wrk "$w" "$s" 1 /dev/null # warm-up
    done
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
}

# Memory of each server alone, idle after a short warm-up: the USS target.
measure_idle_memory() {
    local s id pid workers
    WSGI_APP=hello_wsgi:app
    for s in gatewayd-c gatewayd-swift gatewayd-wsgi nginx granian hummingbird gunicorn; do
        start_named "$s"
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
    },
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
