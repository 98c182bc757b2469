# Helpers for bench/run.sh and bench/callgrind.sh: start and stop each
# server on a free loopback port, wait until it answers, find its workers.
# Sourced from the repository root.
#
# Every server is started with setsid, so it leads its own process group;
# stop_server ends that group, by its id, and nothing else.

BENCH_TMP=${BENCH_TMP:-$(mktemp -d /tmp/gatewayd-bench.XXXXXX)}
# nginx's workers and gatewayd's (which drop to nobody when started as root)
# must reach the unix sockets and files in here.
chmod 755 "$BENCH_TMP"
BENCH_PIDS=()

bench_cleanup() {
    local p
    for p in "${BENCH_PIDS[@]:-}"; do [ -n "$p" ] && stop_server "$p"; done
    BENCH_PIDS=()
    pg_stop
    rm -rf "$BENCH_TMP"
}

log() { printf '%s %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "error: $*"; exit 1; }

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# wait_http URL [SECONDS] [CURL_ARGS...]: until URL answers 2xx (or
# SERVER_PID, when set, is gone).
wait_http() {
    local url=$1 t=${2:-30} i=0
    shift 2 || shift $#
    while [ $i -lt $((t * 10)) ]; do
        [ -n "${SERVER_PID:-}" ] && ! kill -0 "$SERVER_PID" 2>/dev/null && return 1
        curl -sf -o /dev/null -m 1 "$@" "$url" && return 0
        sleep 0.1
        i=$((i + 1))
    done
    return 1
}

# start_bg NAME CMD...: runs CMD in its own session, output in
# $BENCH_TMP/NAME.log; sets SERVER_PID.
start_bg() {
    local name=$1
    shift
    setsid "$@" >"$BENCH_TMP/$name.log" 2>&1 </dev/null &
    SERVER_PID=$!
    BENCH_PIDS+=("$SERVER_PID")
}

# stop_server PID: TERM to the process (a master stops its workers), then,
# after up to 5 s, KILL to the process group it leads.
stop_server() {
    local pid=$1 i=0
    kill -0 "$pid" 2>/dev/null || return 0
    kill -TERM "$pid" 2>/dev/null
    while kill -0 "$pid" 2>/dev/null && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
    kill -KILL -- "-$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    return 0
}

# workers_of PID: the worker processes of a server (its children), or the
# process itself when it has none (Hummingbird: one process, N threads).
workers_of() {
    local kids
    kids=$(pgrep -P "$1" | tr '\n' ' ')
    if [ -n "$kids" ]; then echo "$kids"; else echo "$1"; fi
}

# tree_of PID: PID and every process below it (children, grandchildren...):
# the whole server, for its total PSS.
tree_of() {
    local k
    printf '%s ' "$1"
    for k in $(pgrep -P "$1"); do tree_of "$k"; done
}

# --- the servers ----------------------------------------------------------
# Each start_* takes a name and a bind (a port, or a unix socket path for the
# ones behind nginx), waits until the server answers and sets SERVER_PID.

# gatewayd_conf FILE BIND APP [WORKERS] [extra TOML lines...]
gatewayd_conf() {
    local f=$1 bind=$2 app=$3 workers=${4:-2}
    shift 4 || shift $#
    case $bind in
        /*) bind="unix:$bind" ;;
        *) bind="127.0.0.1:$bind" ;;
    esac
    {
        echo "bind = [\"$bind\"]"
        echo "workers = $workers"
        echo "app = \"$app\""
        echo 'unix_socket_mode = "0666"'
        echo 'error_log = "-"'
        echo 'log_level = "warning"'
        local l
        for l in "$@"; do echo "$l"; done
    } >"$f"
}

# start_gatewayd NAME BIND APP [WORKERS] [extra TOML lines...]
start_gatewayd() {
    local name=$1 bind=$2
    shift
    gatewayd_conf "$BENCH_TMP/$name.conf" "$@" || return 1
    start_bg "$name" build/bin/gatewayd -c "$BENCH_TMP/$name.conf"
    wait_server "$name" "$bind"
}

# start_nginx NAME CONF_FILE BIND: nginx in the foreground of its session
# (daemon off) so that SERVER_PID is its master.
start_nginx() {
    local name=$1 conf=$2 bind=$3
    mkdir -p "$BENCH_TMP/$name.d"
    start_bg "$name" nginx -p "$BENCH_TMP/$name.d" -c "$conf" -g 'daemon off;'
    wait_server "$name" "$bind"
}

# start_granian NAME PORT [MODULE:CALLABLE]: a WSGI app of bench/apps
# (default hello_wsgi:app), 2 worker processes.
start_granian() {
    local name=$1 port=$2 app=${3:-hello_wsgi:app}
    start_bg "$name" granian --interface wsgi --host 127.0.0.1 --port "$port" \
        --workers "${WORKERS:-2}" --http 1 --no-ws --log-level warning \
        --working-dir bench/apps "$app"
    wait_server "$name" "$port"
}

# start_gunicorn NAME BIND [MODULE:CALLABLE [GUNICORN_ARGS...]]: a WSGI app of
# bench/apps (default hello_wsgi:app), 2 workers, sync unless GUNICORN_ARGS
# say otherwise (-k gthread --threads 4).
start_gunicorn() {
    local name=$1 bind=$2 app=${3:-hello_wsgi:app} b
    shift 3 || shift $#
    local kind=(-k sync)
    [ $# -gt 0 ] && kind=("$@")
    case $bind in /*) b="unix:$bind" ;; *) b="127.0.0.1:$bind" ;; esac
    start_bg "$name" gunicorn -w "${WORKERS:-2}" "${kind[@]}" -b "$b" --log-level warning \
        --chdir bench/apps "$app"
    wait_server "$name" "$bind"
}

# start_gatewayd_wsgi NAME PORT MODULE:CALLABLE: gatewayd, 2 workers, serving
# a WSGI app of bench/apps through build/apps/wsgi.so. Started as root, the
# workers keep root (allow_root = true): they would otherwise drop to nobody,
# who cannot read a Python installed under /root (pyenv), as on the project's
# machines. Root or nobody makes no difference to the request path.
start_gatewayd_wsgi() {
    local name=$1 port=$2 app=$3 extra=()
    [ "$(id -u)" = 0 ] && extra+=("allow_root = true")
    extra+=("[app_args]" "app = \"$app\"" "pythonpath = \"$PWD/bench/apps\"")
    start_gatewayd "$name" "$port" "$PWD/build/apps/wsgi.so" "${WORKERS:-2}" "${extra[@]}"
}

# start_hummingbird NAME PORT: one process, an event loop group of 2 threads.
start_hummingbird() {
    local name=$1 port=$2
    start_bg "$name" "$HUMMINGBIRD_BIN" "$port" "${WORKERS:-2}"
    wait_server "$name" "$port"
}

# wait_server NAME BIND: until GET / answers, else the log and failure.
wait_server() {
    local name=$1 bind=$2 ok=1
    # WAIT_PATH: a path that answers 2xx (an app without a "/" route).
    case $bind in
        /*) wait_http "http://localhost${WAIT_PATH:-/}" 30 --unix-socket "$bind" && ok=0 ;;
        *) wait_http "http://127.0.0.1:$bind${WAIT_PATH:-/}" 30 && ok=0 ;;
    esac
    if [ $ok -ne 0 ]; then
        log "$name did not answer; its log:"
        tail -20 "$BENCH_TMP/$name.log" >&2
        return 1
    fi
    # Let a master finish forking every worker before anyone counts them.
    sleep 0.5
}

# --- nginx configurations ---------------------------------------------------

# The echo module (Debian's libnginx-mod-http-echo, which nginx-light pulls
# in) lets nginx echo a POST body itself; without it nginx reads and drops
# the body and answers 200 (NGINX_ECHO tells the report which).
NGINX_ECHO_MODULE=/usr/lib/nginx/modules/ngx_http_echo_module.so
if [ -f "$NGINX_ECHO_MODULE" ]; then NGINX_ECHO=module; else NGINX_ECHO=discard; fi

# nginx_common PREFIX: the main and events blocks, the http block's start.
nginx_common() {
    local d=$1
    [ "$NGINX_ECHO" = module ] && echo "load_module $NGINX_ECHO_MODULE;"
    cat <<NG
worker_processes ${WORKERS:-2};
pid $d/nginx.pid;
error_log $d/error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    # gatewayd has no per-connection request cap; nginx's default (1000)
    # would make wrk reconnect every 1000 requests.
    keepalive_requests 1000000;
    keepalive_timeout 75s;
    sendfile on;
    tcp_nopush on;
    client_body_temp_path $d/body;
    proxy_temp_path $d/proxy;
    fastcgi_temp_path $d/fastcgi;
    uwsgi_temp_path $d/uwsgi;
    scgi_temp_path $d/scgi;
NG
}

# nginx_reference_conf FILE PORT: nginx as the reference server.
#   /       return 200 "Hello, World!" (13 bytes, text/plain)
#   /bytes  a 64 KB static file (sendfile)
#   /echo   the 1 MB body read into memory and echoed (echo module), or
#           read, dropped and answered with a short 200 (no module)
nginx_reference_conf() {
    local f=$1 port=$2 d="$BENCH_TMP/nginx-ref.d" echo_body
    mkdir -p "$d"
    head -c 65536 /dev/zero | tr '\0' x >"$d/64k.bin"
    if [ "$NGINX_ECHO" = module ]; then
        echo_body="echo_read_request_body; echo_request_body;"
    else
        echo_body="return 200 \"read\";"
    fi
    {
        nginx_common "$d"
        cat <<NG
    server {
        listen 127.0.0.1:$port;
        location = / { default_type text/plain; return 200 "Hello, World!"; }
        location = /bytes { default_type application/octet-stream; alias $d/64k.bin; }
        location = /echo {
            default_type application/octet-stream;
            client_max_body_size 2m;
            client_body_buffer_size 2m;
            $echo_body
        }
    }
}
NG
    } >"$f"
}

# nginx_proxy_conf FILE PORT_A SOCK_A PORT_B SOCK_B: one nginx proxying
# 127.0.0.1:PORT_A to the unix socket SOCK_A and PORT_B to SOCK_B, the same
# way (etc/nginx/gatewayd.conf's shape: HTTP/1.1 upstream keep-alive,
# buffering on, forwarded headers).
nginx_proxy_conf() {
    local f=$1 pa=$2 sa=$3 pb=$4 sb=$5 d="$BENCH_TMP/nginx-proxy.d"
    mkdir -p "$d"
    {
        nginx_common "$d"
        local up port sock
        for up in a b; do
            if [ $up = a ]; then port=$pa; sock=$sa; else port=$pb; sock=$sb; fi
            cat <<NG
    upstream up_$up {
        server unix:$sock fail_timeout=0;
        keepalive 32;
        keepalive_timeout 4s;
    }
    server {
        listen 127.0.0.1:$port;
        location / {
            proxy_pass http://up_$up;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host \$host;
            proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto \$scheme;
            proxy_buffering on;
        }
    }
NG
        done
        echo "}"
    } >"$f"
}

# --- behind nginx, by protocol (issue 17) -------------------------------------

UWSGI_BIN=${UWSGI_BIN:-$PWD/build/uwsgi-venv/bin/uwsgi}

# start_gatewayd_protocols NAME DIR APP [extra TOML lines...]: gatewayd, 2
# workers, on four unix sockets in DIR: http.sock, uwsgi.sock, fcgi.sock,
# scgi.sock (one listener per protocol, the same workers behind all four).
start_gatewayd_protocols() {
    local name=$1 d=$2 app=$3 f="$BENCH_TMP/$1.conf" l
    shift 3
    {
        echo "bind = [\"unix:$d/http.sock\", \"uwsgi:unix:$d/uwsgi.sock\", \"fastcgi:unix:$d/fcgi.sock\", \"scgi:unix:$d/scgi.sock\"]"
        echo "workers = ${WORKERS:-2}"
        echo "app = \"$app\""
        echo 'unix_socket_mode = "0666"'
        echo 'error_log = "-"'
        echo 'log_level = "warning"'
        for l in "$@"; do echo "$l"; done
    } >"$f"
    start_bg "$name" build/bin/gatewayd -c "$f"
    wait_server "$name" "$d/http.sock"
}

# start_uwsgi NAME SOCK MODULE:CALLABLE: uWSGI (from PyPI, build/uwsgi-venv)
# serving an app of bench/apps over the uwsgi protocol on a unix socket:
# a master and 2 worker processes, no threads, logging off, as a
# production uWSGI behind nginx is run. Its readiness is checked through
# nginx (it speaks no HTTP on that socket).
start_uwsgi() {
    local name=$1 sock=$2 app=$3
    start_bg "$name" "$UWSGI_BIN" --master --processes "${WORKERS:-2}" --uwsgi-socket "$sock" --chmod-socket=666 \
        --chdir "$PWD/bench/apps" --module "$app" --disable-logging --die-on-term --need-app
}

# nginx_protocols_conf FILE PREFIX_DIR "NAME PORT KIND TARGET"...: one nginx
# server per entry; KIND is http (proxy_pass to a keep-alive upstream, as
# nginx_proxy_conf), httpclose (nginx's default proxy_pass: HTTP/1.0, a
# connection per request, as nginx's uwsgi_pass and scgi_pass always do: the
# like-for-like baseline for those two), uwsgi (uwsgi_pass), fastcgi (fastcgi_pass to a
# keep-alive upstream, fastcgi_keep_conn on) or scgi (scgi_pass), each with
# Debian's stock params file; TARGET a unix socket path.
nginx_protocols_conf() {
    local f=$1 d=$2 entry name port kind sock
    shift 2
    mkdir -p "$d"
    {
        nginx_common "$d"
        for entry in "$@"; do
            read -r name port kind sock <<<"$entry"
            case $kind in
                http)
                    cat <<NG
    upstream up_$name { server unix:$sock fail_timeout=0; keepalive 32; keepalive_timeout 4s; }
    server { listen 127.0.0.1:$port; location / {
        proxy_pass http://up_$name; proxy_http_version 1.1; proxy_set_header Connection "";
        proxy_set_header Host \$host; proxy_buffering on; } }
NG
                    ;;
                httpclose) echo "    server { listen 127.0.0.1:$port; location / { proxy_pass http://unix:$sock:; proxy_set_header Host \$host; } }" ;;
                uwsgi) echo "    server { listen 127.0.0.1:$port; location / { include /etc/nginx/uwsgi_params; uwsgi_pass unix:$sock; } }" ;;
                scgi) echo "    server { listen 127.0.0.1:$port; location / { include /etc/nginx/scgi_params; scgi_pass unix:$sock; } }" ;;
                fastcgi)
                    cat <<NG
    upstream up_$name { server unix:$sock fail_timeout=0; keepalive 32; keepalive_timeout 4s; }
    server { listen 127.0.0.1:$port; location / { include /etc/nginx/fastcgi_params;
        fastcgi_pass up_$name; fastcgi_keep_conn on; } }
NG
                    ;;
            esac
        done
        echo "}"
    } >"$f"
}

# --- app threads: 2 workers x 8 threads (io_* and django_pg) -----------------
# Each server serves MODULE:CALLABLE from DIR with the Python of BENCH_VENV
# (build/bench-venv: gunicorn, granian, Django, psycopg from PyPI), THREADS
# app threads in each of WORKERS processes, on 127.0.0.1:PORT.

BENCH_VENV=${BENCH_VENV:-$PWD/build/bench-venv}
THREADS=${THREADS:-8}
# gatewayd's own --threads (default THREADS): only to try the scripts while
# the worker cannot yet run a WSGI app on several threads; the report says so.
GATEWAYD_THREADS=${GATEWAYD_THREADS:-$THREADS}

# start_gatewayd_threads NAME PORT DIR MODULE:CALLABLE: Gunicorn's command
# line (gatewayd -w 2 --threads 8 module:app), the venv as VIRTUAL_ENV (the
# loader serves the activated venv). Started as root, the workers stay root
# (-u root), as in start_gatewayd_wsgi.
start_gatewayd_threads() {
    local name=$1 port=$2 dir=$3 app=$4 user=()
    [ "$(id -u)" = 0 ] && user=(-u root)
    start_bg "$name" env VIRTUAL_ENV="$BENCH_VENV" build/bin/gatewayd -w "${WORKERS:-2}" --threads "$GATEWAYD_THREADS" \
        -b "127.0.0.1:$port" --chdir "$dir" --log-level warning "${user[@]}" "$app"
    wait_server "$name" "$port"
}

# start_gunicorn_threads NAME PORT DIR MODULE:CALLABLE: -k gthread.
start_gunicorn_threads() {
    local name=$1 port=$2 dir=$3 app=$4
    start_bg "$name" "$BENCH_VENV/bin/gunicorn" -w "${WORKERS:-2}" -k gthread --threads "$THREADS" \
        -b "127.0.0.1:$port" --chdir "$dir" --log-level warning "$app"
    wait_server "$name" "$port"
}

# start_granian_threads NAME PORT DIR MODULE:CALLABLE: WSGI, the app on
# --blocking-threads threads of each worker.
start_granian_threads() {
    local name=$1 port=$2 dir=$3 app=$4
    start_bg "$name" "$BENCH_VENV/bin/granian" --interface wsgi --host 127.0.0.1 --port "$port" \
        --workers "${WORKERS:-2}" --blocking-threads "$THREADS" --http 1 --no-ws --log-level warning \
        --working-dir "$dir" "$app"
    wait_server "$name" "$port"
}

# start_uwsgi_threads NAME PORT DIR MODULE:CALLABLE: uWSGI (build/uwsgi-venv)
# speaking HTTP itself (--http-socket: no router process), a master and
# WORKERS processes of THREADS threads, the bench venv as its virtualenv.
# --listen 1024: uWSGI's default listen queue (100) is below 256 connections;
# the others' are 1024 (granian) and 2048 (gatewayd, Gunicorn). --http-socket
# closes the connection after every response without saying so, which wrk
# counts as a read error each time: --add-header "Connection: close" says
# it (the same close, announced; --http11-socket would keep connections).
start_uwsgi_threads() {
    local name=$1 port=$2 dir=$3 app=$4
    start_bg "$name" "$UWSGI_BIN" --master --processes "${WORKERS:-2}" --threads "$THREADS" --enable-threads \
        --http-socket "127.0.0.1:$port" --add-header "Connection: close" --listen 1024 \
        --chdir "$dir" --virtualenv "$BENCH_VENV" \
        --module "$app" --disable-logging --die-on-term --need-app
    wait_server "$name" "$port"
}

# --- PostgreSQL (django_pg) -----------------------------------------------------
# Debian's PostgreSQL binaries, a cluster made for the run in $BENCH_TMP/pg
# (initdb), owned by nobody when the bench runs as root (PostgreSQL refuses
# root), listening only on a unix socket in that directory; the user "bench"
# with trust authentication, the database "bench". pg_stop (bench_cleanup
# calls it) stops it whatever happened.

PG_DIR=""

pg_bindir() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1; }

# as_pg CMD...: as nobody when root, else as oneself; from PG_DIR (nobody
# may not be able to enter the current directory).
as_pg() {
    if [ "$(id -u)" = 0 ]; then
        (cd "$PG_DIR" && runuser -u nobody -- "$@")
    else
        (cd "$PG_DIR" && "$@")
    fi
}

# pg_start: sets PG_DIR and exports BENCH_PG_HOST, BENCH_PG_USER, BENCH_PG_DB
# (bench/django_site/benchsite/settings.py reads them).
pg_start() {
    local bin
    bin=$(pg_bindir)
    [ -n "$bin" ] || { log "no /usr/lib/postgresql/*/bin"; return 1; }
    PG_DIR="$BENCH_TMP/pg"
    mkdir -p "$PG_DIR"
    [ "$(id -u)" = 0 ] && chown nobody:nogroup "$PG_DIR"
    chmod 755 "$PG_DIR"
    as_pg "$bin/initdb" -D "$PG_DIR/data" -U bench -A trust -E UTF8 --no-sync >"$BENCH_TMP/initdb.log" 2>&1 ||
        { tail -20 "$BENCH_TMP/initdb.log" >&2; return 1; }
    # max_connections: 4 servers x 2 workers x 8 threads keep a connection
    # each (CONN_MAX_AGE); fsync off: the data is made again each run.
    as_pg "$bin/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/postgres.log" -w -t 60 \
        -o "-c listen_addresses='' -k $PG_DIR -c max_connections=200 -c fsync=off -c synchronous_commit=off" \
        start >"$BENCH_TMP/pg_ctl.log" 2>&1 ||
        { tail -20 "$BENCH_TMP/pg_ctl.log" "$PG_DIR/postgres.log" >&2; return 1; }
    "$bin/createdb" -h "$PG_DIR" -U bench bench || return 1
    export BENCH_PG_HOST=$PG_DIR BENCH_PG_USER=bench BENCH_PG_DB=bench
}

# pg_stop: a fast shutdown (sessions ended), then KILL to the postmaster if
# it is still there; safe to call when nothing was started.
pg_stop() {
    [ -n "$PG_DIR" ] && [ -d "$PG_DIR/data" ] || return 0
    local pid=""
    [ -f "$PG_DIR/data/postmaster.pid" ] && pid=$(head -1 "$PG_DIR/data/postmaster.pid")
    as_pg "$(pg_bindir)/pg_ctl" -D "$PG_DIR/data" -m fast -w -t 20 stop >/dev/null 2>&1 || true
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then kill -KILL "$pid" 2>/dev/null || true; fi
    PG_DIR=""
}
