#!/usr/bin/env bash
# Measures reloads under load: gatewayd (2 workers, testapp) under wrk
# (16 keep-alive connections) for DURATION seconds while RELOADS SIGHUPs are
# sent, alternating a new app_args and a .so swapped by rename. Prints the
# boot-to-promotion time of each generation and wrk's totals and errors.
# Usage: scripts/measure-reload.sh [RELOADS] [DURATION]   (after `make`)
set -euo pipefail
cd "$(dirname "$0")/.."
reloads=${1:-10}; duration=${2:-15}
tmp=$(mktemp -d); chmod 755 "$tmp"
port=$(python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])')
cp build/apps/testapp.so "$tmp/app.so"
conf() { printf 'bind = ["127.0.0.1:%s"]\nworkers = 2\napp = "%s"\n[app_args]\nversion = "%s"\n' "$port" "$tmp/app.so" "$1" >"$tmp/gw.conf"; }
conf 0
build/bin/gatewayd -c "$tmp/gw.conf" >"$tmp/log" 2>&1 &
gw=$!
trap 'kill $gw 2>/dev/null; rm -rf "$tmp"' EXIT
for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$port/" && break; sleep 0.1; done
wrk -t1 -c16 -d"${duration}s" "http://127.0.0.1:$port/" >"$tmp/wrk" 2>&1 &
wrk=$!
gap=$(python3 -c "print(($duration - 2) / $reloads)")
sleep 1
for i in $(seq "$reloads"); do
  if [ $((i % 2)) = 0 ]; then cp build/apps/testapp.so "$tmp/app.so.new"; mv "$tmp/app.so.new" "$tmp/app.so"; fi
  conf "$i"; kill -HUP $gw; sleep "$gap"
done
wait $wrk
echo "reload times (SIGHUP to the new generation serving):"
grep -o 'generation [0-9]* serving ([0-9]* workers, booted in [0-9]* ms)' "$tmp/log" || true
echo "abandoned reloads: $(grep -c abandoned "$tmp/log" || true)"
echo "wrk:"; grep -E 'requests in|Socket errors|Non-2xx|Requests/sec' "$tmp/wrk" || true
grep -qE 'Socket errors|Non-2xx' "$tmp/wrk" && echo "FAILED REQUESTS" || echo "failed requests: 0"
