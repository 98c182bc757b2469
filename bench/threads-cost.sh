#!/bin/bash
# What app threads cost a worker whose app computes (does not wait):
# gatewayd -w 2 --threads N for each N in THREADS, under wrk, alternated
# RUNS times; per run the requests per second, p99, and from the workers'
# /proc counters the context switches and CPU time (user + system) per
# request. CPU per request is the steady figure on a shared machine; req/s
# moves by 10 % or more between runs.
#
#   bash bench/threads-cost.sh                         # minimal WSGI callable, threads 1 and 4
#   APP=flask_app:app bash bench/threads-cost.sh       # Flask (bench/apps)
#   APP=$PWD/build/apps/hello-c.so bash bench/threads-cost.sh   # the C hello app (an absolute path: --chdir bench/apps)
#
# RUNS=3 THREADS="1 4" CONNECTIONS=50 DURATION=8. Needs wrk and a built
# gatewayd (make build/bin/gatewayd; make all for wsgi.so).
set -euo pipefail
cd "$(dirname "$0")/.."
APP=${APP:-hello_wsgi:app}
RUNS=${RUNS:-3}
THREADS=${THREADS:-"1 4"}
CONNECTIONS=${CONNECTIONS:-50}
DURATION=${DURATION:-8}
user=()
[ "$(id -u)" = 0 ] && user=(-u root)

# ticks MASTER, switches MASTER: CPU ticks and context switches, summed over the workers of MASTER.
ticks() { local p; for p in $(pgrep -P "$1"); do awk '{print $14 + $15}' "/proc/$p/stat"; done | awk '{s += $1} END {print s + 0}'; }
switches() {
    local p
    for p in $(pgrep -P "$1"); do cat /proc/"$p"/task/*/status; done |
        awk '/^(voluntary|nonvoluntary)_ctxt_switches/ {s += $2} END {print s + 0}'
}

for run in $(seq 1 "$RUNS"); do
    for n in $THREADS; do
        port=$((20000 + RANDOM % 20000))
        build/bin/gatewayd -w 2 --threads "$n" -b "127.0.0.1:$port" --chdir bench/apps --log-level warning "${user[@]}" "$APP" \
            >/tmp/threads-cost-gatewayd.log 2>&1 &
        master=$!
        for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$port/" && break; sleep 0.1; done
        t0=$(ticks $master); s0=$(switches $master)
        out=$(wrk -t1 -c"$CONNECTIONS" -d"${DURATION}s" --latency "http://127.0.0.1:$port/")
        t1=$(ticks $master); s1=$(switches $master)
        kill -TERM $master; wait $master 2>/dev/null || true
        requests=$(awk '/requests in/ {print $1}' <<<"$out")
        python3 - "$run" "$n" "$requests" "$t0" "$t1" "$s0" "$s1" "$(getconf CLK_TCK)" \
            "$(awk '/Requests\/sec/ {print $2}' <<<"$out")" "$(awk '$1 == "99%" {print $2}' <<<"$out")" <<'PY'
import sys
run, n, req, t0, t1, s0, s1, hz, rps, p99 = sys.argv[1:]
req = int(req)
print(f"run {run} threads {n}: {float(rps):,.0f} req/s, p99 {p99}, "
      f"{(int(s1) - int(s0)) / req:.2f} context switches and "
      f"{(float(t1) - float(t0)) / int(hz) * 1e6 / req:.2f} us CPU per request")
PY
    done
done
