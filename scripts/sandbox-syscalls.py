"""Summarizes build/strace (scripts/sandbox-syscalls.sh): system calls of
the workers from where they enter the sandbox (or drop to the app's user),
and of their threads and children, with counts."""
import collections
import glob
import os
import re
import sys

CALL = re.compile(r"^(?:<\.\.\. )?([a-z0-9_]+)(?:\(| resumed>)")
CHILD = re.compile(r"^(?:clone3?|fork|vfork)\(.*\)\s+= (\d+)")
RESUMED_CHILD = re.compile(r"^<\.\.\. (?:clone3?|fork|vfork) resumed>.*\)\s+= (\d+)")

files = {}
for path in glob.glob(os.path.join(sys.argv[1], "trace.*.*")):
    tid = int(path.rsplit(".", 1)[1])
    files[tid] = open(path, errors="replace").read().splitlines()

children = collections.defaultdict(list)
for tid, lines in files.items():
    for line in lines:
        m = CHILD.match(line) or RESUMED_CHILD.match(line)
        if m:
            children[tid].append(int(m.group(1)))

counts = collections.Counter()
refused = collections.Counter()
seen_workers = 0


def take(lines):
    for line in lines:
        m = CALL.match(line)
        if not m:
            continue
        counts[m.group(1)] += 1
        if line.rstrip().endswith(("= -1 EPERM (Operation not permitted)",)) and "EPERM" in line:
            refused[m.group(1)] += 1


def descend(tid):
    for c in children.get(tid, ()):
        if c in files:
            take(files[c])
            descend(c)


for tid, lines in files.items():
    # a worker: from where it enters the sandbox (PR_SET_NO_NEW_PRIVS) or,
    # with sandbox = false, drops to the app's user (setuid)
    drop = next((i for i, line in enumerate(lines) if line.startswith("prctl(PR_SET_NO_NEW_PRIVS")), None)
    if drop is None:
        drop = next((i for i, line in enumerate(lines) if line.startswith("setuid(") and line.rstrip().endswith("= 0")), None)
    if drop is None:
        continue
    seen_workers += 1
    take(lines[drop + 1:])
    descend(tid)

print(f"# {seen_workers} workers, {len(files)} traced tasks")
for name, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])):
    flag = f"  (refused {refused[name]}x)" if refused[name] else ""
    print(f"{n:9d} {name}{flag}")
