#!/bin/bash
# The system calls the workers make, measured: runs integration tests with
# build/bin/gatewayd under strace (-f -ff, detached with -D so the master
# keeps its pid and its children stay its children), then lists, per system
# call, the count seen in workers (and their threads and children) after the
# drop to the app's user: the sandbox's allow list (Sources/CSupport/sandbox.c)
# must cover them. Calls the current filter refused (EPERM from a call not on
# the list) are flagged. The master's own calls are left out.
#
#   bash scripts/sandbox-syscalls.sh Tests/integration/test_todo.py [pytest args...]
# Leaves the traces in build/strace/ and the summary in build/strace/summary.txt.
set -euo pipefail
cd "$(dirname "$0")/.."
out=build/strace
rm -rf "$out" && mkdir -p "$out"
real=build/bin/gatewayd.real
mv build/bin/gatewayd "$real"
restore() { mv -f "$real" build/bin/gatewayd; }
trap restore EXIT
cat > build/bin/gatewayd <<WRAP
#!/bin/sh
exec strace -D -f -ff -qq -o "$PWD/$out/trace.\$\$" "$PWD/$real" "\$@"
WRAP
chmod 755 build/bin/gatewayd
python3 -m pytest -q -p no:cacheprovider "$@" || true
restore
trap - EXIT
python3 scripts/sandbox-syscalls.py "$out" | tee "$out/summary.txt"
