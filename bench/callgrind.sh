#!/usr/bin/env bash
# bench/callgrind.sh: instructions and syscalls per request, gatewayd (hello-c,
# and the Swift hello with keep-alive) and nginx (return 200), one worker each. Counts, not timings: they do not
# move with the load on the machine, so they compare builds on a noisy box.
#
# For each server and mode (keep-alive: N requests on one connection;
# close: NCLOSE requests, one connection each):
#   - callgrind: the server under `valgrind --tool=callgrind`, the whole
#     process tree (master and worker); a run with the fixed count minus a
#     run with none, divided by the count. Top functions from the worker.
#   - strace -c -f: the same, syscalls per request by name.
#   - under load (2 workers, wrk, 50 connections): perf stat's syscall
#     tracepoints, context switches and CPU time of the workers, per request.
# Both runs of a pair start the server, wait for it to answer one request,
# then send the count (or nothing) and stop it.
#
# The JSON API (Examples/todo, seed 10): NTODO keep-alive GET /todos
# (todo-list) and POST /todos (todo-create) each. (Not Hummingbird: valgrind
# 3.19 dies in libdispatch's signal thread as it starts; run.sh's CPU time
# per request compares the two.)
#
#   N=20000 NCLOSE=5000 NTODO=5000 bash bench/callgrind.sh     (run from the repo root)
#   TODO=0: without the JSON API runs; ONLY_TODO=1: only them, and no
#   figures under load; RESULT=FILE: write FILE instead of
#   bench/results/callgrind.json; SERVERS="gatewayd-swift": only those of
#   the hello runs (default "gatewayd gatewayd-swift nginx"); LOAD=0: no
#   figures under load; SANDBOX=false: gatewayd (hello-c) with its workers'
#   sandbox off (docs/sandbox.md), to compare
# Writes bench/results/callgrind.json; bench/report.py puts it in
# docs/performance.md.
set -euo pipefail
cd "$(dirname "$(readlink -f "$0")")/.."
N=${N:-20000}
NCLOSE=${NCLOSE:-5000}
NTODO=${NTODO:-5000}
TODO=${TODO:-1}
ONLY_TODO=${ONLY_TODO:-0}
RESULT=${RESULT:-bench/results/callgrind.json}
TODO_BODY='{"title": "buy milk", "done": false}'
. bench/lib.sh
trap bench_cleanup EXIT
for t in valgrind callgrind_annotate strace; do
    command -v $t >/dev/null || die "$t is missing (apt-get install valgrind strace)"
done
[ -x build/bin/gatewayd ] && [ -f build/apps/hello-c.so ] || die "run make first"

OUT=$BENCH_TMP/cg
mkdir -p "$OUT"
# workers drop to nobody (gatewayd) or run as nobody (nginx): they write here
chmod 777 "$OUT"
# Debian's valgrind (3.19) cannot read the DWARF 5 the Swift toolchain
# writes: a copy without debug sections keeps the symbol table, which is
# all the function names need.
objcopy --strip-debug build/bin/gatewayd "$OUT/gatewayd"
objcopy --strip-debug build/apps/hello.so "$OUT/hello.so"
if [ "$TODO" = 1 ]; then
    objcopy --strip-debug build/apps/todo.so "$OUT/todo.so"
fi

server_cmd() { # server port: sets CMD, the command line
    case $1 in
        gatewayd)
            gatewayd_conf "$OUT/gatewayd.conf" "$2" "$PWD/build/apps/hello-c.so" 1 'timeout = 0' ${SANDBOX:+"sandbox = $SANDBOX"}
            CMD=("$OUT/gatewayd" -c "$OUT/gatewayd.conf")
            ;;
        gatewayd-swift)
            gatewayd_conf "$OUT/gatewayd-swift.conf" "$2" "$OUT/hello.so" 1 'timeout = 0'
            CMD=("$OUT/gatewayd" -c "$OUT/gatewayd-swift.conf")
            ;;
        gatewayd-todo-*)
            gatewayd_conf "$OUT/gatewayd-todo.conf" "$2" "$OUT/todo.so" 1 'timeout = 0' '[app_args]' 'seed = 10' 'log_level = "warning"'
            CMD=("$OUT/gatewayd" -c "$OUT/gatewayd-todo.conf")
            ;;
        nginx)
            mkdir -p "$OUT/nginx.d"
            cat >"$OUT/nginx.conf" <<NG
worker_processes 1;
pid $OUT/nginx.d/nginx.pid;
error_log $OUT/nginx.d/error.log warn;
events { worker_connections 1024; }
http {
    access_log off;
    keepalive_requests 1000000;
    client_body_temp_path $OUT/nginx.d/body;
    proxy_temp_path $OUT/nginx.d/proxy;
    fastcgi_temp_path $OUT/nginx.d/fastcgi;
    uwsgi_temp_path $OUT/nginx.d/uwsgi;
    scgi_temp_path $OUT/nginx.d/scgi;
    server {
        listen 127.0.0.1:$2;
        location = / { default_type text/plain; return 200 "Hello, World!"; }
    }
}
NG
            CMD=(nginx -p "$OUT/nginx.d" -c "$OUT/nginx.conf" -g "daemon off;")
            ;;
    esac
}

# one TOOL SERVER MODE COUNT TAG: one run; TOOL callgrind or strace.
one() {
    local tool=$1 server=$2 mode=$3 count=$4 tag=$5 port master i=0
    port=$(free_port)
    server_cmd "$server" "$port"
    case $tool in
        callgrind) start_bg "$tag" valgrind -q --tool=callgrind --callgrind-out-file="$OUT/$tag.%p" "${CMD[@]}" ;;
        strace) start_bg "$tag" strace -f -c -o "$OUT/$tag.strace" "${CMD[@]}" ;;
    esac
    local tracer=$SERVER_PID
    local request=("$mode")
    case $server in
        *-todo-list) request=("$mode" /todos) ;;
        *-todo-create) request=("$mode" /todos "$TODO_BODY") ;;
    esac
    local ready=/
    [ ${#request[@]} -gt 1 ] && ready=/todos
    SERVER_PID=$tracer wait_http "http://127.0.0.1:$port$ready" 120 || { tail "$BENCH_TMP/$tag.log" >&2; die "$server did not answer under $tool"; }
    sleep 1
    if [ "$count" -gt 0 ]; then
        python3 bench/fixed_client.py 127.0.0.1 "$port" "$count" "${request[@]}" >/dev/null ||
            die "$server: not every request succeeded under $tool"
    fi
    # valgrind runs the program in its own process; strace forks it
    master=$tracer
    [ "$tool" = strace ] && master=$(pgrep -P "$tracer" | head -1)
    kill -TERM "$master"
    while kill -0 "$tracer" 2>/dev/null && [ $i -lt 600 ]; do sleep 0.1; i=$((i + 1)); done
    kill -0 "$tracer" 2>/dev/null && die "$server did not stop under $tool"
    wait "$tracer" 2>/dev/null || true
    echo "$tracer" >"$OUT/$tag.pid"
}

SERVERS=${SERVERS:-"gatewayd gatewayd-swift nginx"}
TODO_SERVERS="gatewayd-todo-list gatewayd-todo-create"
[ "$ONLY_TODO" = 1 ] && SERVERS=""
if [ "$TODO" = 1 ]; then
    [ -f build/apps/todo.so ] || die "no build/apps/todo.so (make)"
    SERVERS="$SERVERS $TODO_SERVERS"
fi
for server in $SERVERS; do
    for mode in keepalive close; do
        case $server in gatewayd-swift | *-todo-*) [ $mode = close ] && continue ;; esac
        count=$N
        [ $mode = close ] && count=$NCLOSE
        case $server in *-todo-*) count=$NTODO ;; esac
        for tool in callgrind strace; do
            log "$server $mode: $tool, $count requests and 0"
            one $tool $server $mode "$count" "$tool-$server-$mode-n"
            one $tool $server $mode 0 "$tool-$server-$mode-0"
        done
    done
done

# Under load: the same servers (2 workers each, as in run.sh) under wrk, with
# perf's software counters and syscall tracepoints on the workers for 3 s
# (where perf can: `perf stat -e raw_syscalls:sys_enter true` works). Not a
# count as exact as the above, but it shows batching: under load one
# epoll_wait serves several connections.
under_load() { # server port mode -> one JSON line
    local server=$1 port=$2 mode=$3 pids wrkout=$OUT/load-$1-$3.txt extra=() wpid
    [ "$mode" = close ] && extra=(-H "Connection: close")
    pids=$(workers_of "$SERVER_PID" | tr ' ' '\n' | grep -v '^$' | paste -sd,)
    wrk -t1 -c50 -d5s "${extra[@]}" "http://127.0.0.1:$port/" >"$wrkout" 2>&1 &
    wpid=$!
    sleep 1
    perf stat -x, -e raw_syscalls:sys_enter,syscalls:sys_enter_epoll_wait,syscalls:sys_enter_accept4,context-switches,cpu-clock \
        -p "$pids" -- sleep 3 2>"$OUT/perf-$server-$mode.csv" >/dev/null || true
    wait "$wpid" || true
    python3 - "$server" "$mode" "$wrkout" "$OUT/perf-$server-$mode.csv" <<'PY'
import json, re, sys
server, mode, wrkout, perf = sys.argv[1:5]
rps = float(re.search(r"Requests/sec:\s+([\d.]+)", open(wrkout).read()).group(1))
counts = {}
for line in open(perf):
    f = line.strip().split(",")
    if len(f) > 2 and f[0].replace(".", "").isdigit():
        counts[f[2]] = float(f[0])
requests = rps * 3
print(json.dumps({"server": server, "mode": mode, "rps": rps,
                  "syscalls": round(counts.get("raw_syscalls:sys_enter", 0) / requests, 2),
                  "epoll_wait": round(counts.get("syscalls:sys_enter_epoll_wait", 0) / requests, 2),
                  "accept4": round(counts.get("syscalls:sys_enter_accept4", 0) / requests, 2),
                  "context_switches": round(counts.get("context-switches", 0) / requests, 3),
                  "cpu_us": round(counts.get("cpu-clock", 0) * 1000 / requests, 2)}))
PY
}

: >"$OUT/load.jsonl"
if [ "$ONLY_TODO" = 1 ] || [ "${LOAD:-1}" = 0 ]; then
    log "no figures under load (ONLY_TODO=1 or LOAD=0)"
elif perf stat -e raw_syscalls:sys_enter true >/dev/null 2>&1; then
    for server in gatewayd-c nginx; do
        port=$(free_port)
        if [ $server = nginx ]; then
            nginx_reference_conf "$OUT/nginx-load.conf" "$port"
            start_nginx nginx-load "$OUT/nginx-load.conf" "$port"
        else
            start_gatewayd gatewayd-load "$port" "$PWD/build/apps/hello-c.so"
        fi
        for mode in keepalive close; do
            log "$server $mode: perf stat under wrk load"
            under_load $server "$port" $mode >>"$OUT/load.jsonl"
        done
        stop_server "$SERVER_PID"
    done
else
    log "perf cannot count syscalls here: no figures under load"
fi

mkdir -p bench/results
python3 - "$OUT" "$N" "$NCLOSE" "$NTODO" <<'PY' >"$RESULT"
import glob, json, os, re, subprocess, sys, time
out, n, nclose, ntodo = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])

def totals(tag):
    """{pid: instructions} of a callgrind run's processes."""
    res = {}
    for f in glob.glob(os.path.join(out, tag + ".*")):
        m = re.search(r"\.(\d+)$", f)
        if not m:
            continue
        for line in open(f, errors="replace"):
            if line.startswith(("summary:", "totals:")):
                res[int(m.group(1))] = int(line.split()[1])
                break
    return res

def demangle(names):
    try:
        r = subprocess.run(["swift", "demangle", "--simplified", "--compact"], input="\n".join(names),
                           capture_output=True, text=True, timeout=60)
        lines = r.stdout.splitlines()
        if len(lines) == len(names):
            return lines
    except Exception:
        pass
    return names

def functions(tag, master):
    """{function: self instructions} over a run's worker processes."""
    files = [f for f in glob.glob(os.path.join(out, tag + ".*"))
             if re.search(r"\.(\d+)$", f) and int(f.rsplit(".", 1)[1]) != master]
    res = {}
    for f in files:
        r = subprocess.run(["callgrind_annotate", "--inclusive=no", "--threshold=100", f],
                           capture_output=True, text=True)
        for line in r.stdout.splitlines():
            m = re.match(r"\s*([\d,]+)\s+(?:\([\s\d.]+%\)\s+)?(\S.*?)\s*(?:\[(.*)\])?$", line)
            if m and ":" in m.group(2):
                fn = m.group(2).split(":", 1)[1]
                if fn.startswith("0x") and m.group(3):
                    fn = "%s (no symbol)" % os.path.basename(m.group(3))  # stripped libc, libcrypt...
                res[fn] = res.get(fn, 0) + int(m.group(1).replace(",", ""))
    return res

def top(tag_n, tag_0, count, master_n, master_0):
    """The functions that cost the most per request: run N minus run 0."""
    a, b = functions(tag_n, master_n), functions(tag_0, master_0)
    rows = sorted(((v - b.get(k, 0), k) for k, v in a.items()), reverse=True)[:15]
    names = demangle([fn for _, fn in rows])
    return [{"function": name[:140], "per_request": round(ir / count, 1)} for (ir, _), name in zip(rows, names)]

def strace_counts(tag):
    calls = {}
    path = os.path.join(out, tag + ".strace")
    for line in open(path):
        parts = line.split()
        # % time  seconds  usecs/call  calls  [errors]  syscall
        if len(parts) >= 5 and re.match(r"[\d.]+$", parts[0]) and parts[-1] != "total":
            calls[parts[-1]] = int(parts[3])
    return calls

servers = {}
for server, label in (("gatewayd", "gatewayd (hello-c)"), ("gatewayd-swift", "gatewayd (hello, Swift)"),
                      ("nginx", "nginx (return 200)"),
                      ("gatewayd-todo-list", "gatewayd (todo, GET /todos)"),
                      ("gatewayd-todo-create", "gatewayd (todo, POST /todos)")):
    for mode, count in (("keepalive", ntodo if "todo" in server else n), ("close", nclose)):
        if not os.path.exists(os.path.join(out, "callgrind-%s-%s-n.pid" % (server, mode))):
            continue
        a, b = totals("callgrind-%s-%s-n" % (server, mode)), totals("callgrind-%s-%s-0" % (server, mode))
        ma = int(open(os.path.join(out, "callgrind-%s-%s-n.pid" % (server, mode))).read())
        mb = int(open(os.path.join(out, "callgrind-%s-%s-0.pid" % (server, mode))).read())
        entry = {"requests": count, "processes": len(a)}
        if a and b:
            entry["instructions_per_request"] = round((sum(a.values()) - sum(b.values())) / count)
            wa = sum(v for p, v in a.items() if p != ma)
            wb = sum(v for p, v in b.items() if p != mb)
            entry["worker_instructions_per_request"] = round((wa - wb) / count)
            entry["master_instructions_per_request"] = round((a.get(ma, 0) - b.get(mb, 0)) / count)
            entry["top"] = top("callgrind-%s-%s-n" % (server, mode), "callgrind-%s-%s-0" % (server, mode),
                               count, ma, mb)
        sa, sb = strace_counts("strace-%s-%s-n" % (server, mode)), strace_counts("strace-%s-%s-0" % (server, mode))
        per = {k: round((sa.get(k, 0) - sb.get(k, 0)) / count, 3) for k in sa}
        per = {k: v for k, v in per.items() if v >= 0.01}
        entry["syscalls"] = {"per_request": per, "total_per_request": round(sum(per.values()), 2)}
        servers["%s, %s" % (label, "keep-alive" if mode == "keepalive" else "Connection: close")] = entry
load = [json.loads(l) for l in open(os.path.join(out, "load.jsonl")) if l.strip()]
print(json.dumps({"stamp": time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()), "requests": n,
                  "close_requests": nclose, "todo_requests": ntodo, "servers": servers, "under_load": load}, indent=1))
PY
python3 - "$RESULT" <<'PY'
import json
import sys
c = json.load(open(sys.argv[1]))
for name, s in c["servers"].items():
    print("%-45s %8s instr/req  %6s syscalls/req" % (name, s.get("instructions_per_request"), s["syscalls"]["total_per_request"]))
PY
