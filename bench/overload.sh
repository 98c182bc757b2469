#!/usr/bin/env bash
# bench/overload.sh: gatewayd at twice the load its workers can carry, with
# and without shedding (max_queue_wait). 2 workers of the test app on a route
# that sleeps SERVICE_MS (so they carry 2 x 1000 / SERVICE_MS requests a
# second), behind nginx, which sets X-Request-Start "t=${msec}" as the
# shipped site does; an open-loop client (bench/overload_client.py) sends at
# a fixed rate, each request giving up after TIMEOUT seconds (a user who
# leaves). Rows: the capacity rate without shedding (reference), twice it
# without, twice it with max_queue_wait = SHED_WAIT.
#
#   SERVICE_MS=50 OVERLOAD_SECONDS=15 TIMEOUT=3 SHED_WAIT=0.5
#   flock /tmp/gatewayd-bench.lock bash bench/overload.sh   (from the repo root)
#
# Writes bench/results/overload.json; bench/report.py puts it in
# docs/performance.md.
set -euo pipefail
cd "$(dirname "$(readlink -f "$0")")/.."
SERVICE_MS=${SERVICE_MS:-50}
SECONDS_EACH=${OVERLOAD_SECONDS:-15}
TIMEOUT=${TIMEOUT:-3}
SHED_WAIT=${SHED_WAIT:-0.5}
export WORKERS=2
. bench/lib.sh
trap bench_cleanup EXIT
[ -x build/bin/gatewayd ] && [ -f build/apps/testapp.so ] || die "run make first"
command -v nginx >/dev/null || die "nginx is missing"

capacity=$(python3 -c "print(2 * 1000 / $SERVICE_MS)")
path="/sleep?seconds=$(python3 -c "print($SERVICE_MS / 1000)")"
: >"$BENCH_TMP/overload.jsonl"

# row LABEL RATE MAX_QUEUE_WAIT
row() {
    local label=$1 rate=$2 wait=$3 gport nport d="$BENCH_TMP/nginx-overload.d"
    gport=$(free_port)
    nport=$(free_port)
    start_gatewayd gatewayd-overload "$gport" "$PWD/build/apps/testapp.so" 2 "max_queue_wait = $wait" 'timeout = 60' ||
        die "gatewayd did not start"
    local gpid=$SERVER_PID
    mkdir -p "$d"
    {
        nginx_common "$d"
        cat <<NG
    upstream gw { server 127.0.0.1:$gport fail_timeout=0; }
    server {
        listen 127.0.0.1:$nport backlog=4096;
        location / {
            proxy_pass http://gw;
            proxy_set_header X-Request-Start "t=\${msec}";
            proxy_read_timeout 60s;
        }
    }
}
NG
    } >"$BENCH_TMP/nginx-overload.conf"
    start_nginx nginx-overload "$BENCH_TMP/nginx-overload.conf" "$nport" || die "nginx did not start"
    local npid=$SERVER_PID
    log "overload: $label: $rate req/s for ${SECONDS_EACH}s (capacity $capacity), max_queue_wait $wait"
    python3 bench/overload_client.py 127.0.0.1 "$nport" "$path" "$rate" "$SECONDS_EACH" "$TIMEOUT" |
        python3 -c "import json, sys; r = json.loads(sys.stdin.read()); r.update(label=sys.argv[1], rate=float(sys.argv[2]), max_queue_wait=float(sys.argv[3])); print(json.dumps(r))" \
            "$label" "$rate" "$wait" | tee -a "$BENCH_TMP/overload.jsonl" >&2
    stop_server "$npid"
    stop_server "$gpid"
}

row "1x capacity, no shedding" "$capacity" 0
row "2x capacity, no shedding" "$(python3 -c "print(2 * $capacity)")" 0
row "2x capacity, max_queue_wait $SHED_WAIT s" "$(python3 -c "print(2 * $capacity)")" "$SHED_WAIT"

mkdir -p bench/results
python3 - "$BENCH_TMP/overload.jsonl" "$SERVICE_MS" "$SECONDS_EACH" "$TIMEOUT" <<'PY' >bench/results/overload.json
import json, os, sys, time
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
print(json.dumps({"stamp": time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()), "service_ms": int(sys.argv[2]),
                  "workers": 2, "seconds": float(sys.argv[3]), "client_timeout_s": float(sys.argv[4]),
                  "loadavg": open("/proc/loadavg").read().split()[:3], "rows": rows}, indent=1))
PY
log "bench/results/overload.json written"
