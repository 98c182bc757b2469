#!/usr/bin/env python3
"""Small measuring steps for bench/run.sh, each printing one JSON object.

    measure.py wrk FILE          wrk --latency output -> requests/s, latency, errors
    measure.py mem PID...        /proc/PID/smaps_rollup of each -> RSS, PSS, USS (KiB)
    measure.py check URL KIND    fetch once, check the body (hello, bytes, echo, todo, todos,
                                 sleep:MS, django)

Memory: RSS counts every resident page the process maps, shared or not; PSS
divides each shared page by the number of processes mapping it (so the PSS
of all processes adds up to what they use together); USS (Private_Clean +
Private_Dirty) is what the process alone uses: what ending it would free.
"""
import json
import re
import sys
import time
import urllib.request

UNITS = {"us": 1e-3, "ms": 1.0, "s": 1000.0, "m": 60000.0}


def to_ms(text):
    m = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text.strip())
    return round(float(m.group(1)) * UNITS[m.group(2)], 4) if m else None


def parse_wrk(text):
    out = {"rps": 0.0, "requests": 0, "p50_ms": None, "p99_ms": None,
           "socket_errors": 0, "non2xx": 0}
    m = re.search(r"Requests/sec:\s+([\d.]+)", text)
    if m:
        out["rps"] = float(m.group(1))
    m = re.search(r"(\d+) requests in ([\d.]+\w+), ([\d.]+\w+) read", text)
    if m:
        out["requests"] = int(m.group(1))
        out["read"] = m.group(3)
    for pct, key in (("50", "p50_ms"), ("99", "p99_ms")):
        m = re.search(r"^\s+%s(?:\.000)?%%\s+(\S+)" % pct, text, re.M)
        # no answer in the run: wrk prints 0us percentiles, which are none
        if m and out["requests"]:
            out[key] = to_ms(m.group(1))
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    if m:
        out["socket_errors"] = sum(int(x) for x in m.groups())
        out["socket_errors_detail"] = dict(zip(("connect", "read", "write", "timeout"),
                                               (int(x) for x in m.groups())))
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    if m:
        out["non2xx"] = int(m.group(1))
    out["errors"] = out["socket_errors"] + out["non2xx"]
    return out


def mem(pid):
    fields = {}
    try:
        with open("/proc/%s/smaps_rollup" % pid) as f:
            for line in f:
                parts = line.split()
                if len(parts) >= 2 and parts[0].endswith(":"):
                    fields[parts[0][:-1]] = int(parts[1])
    except OSError:
        return None
    return {"pid": int(pid), "rss_kb": fields.get("Rss", 0), "pss_kb": fields.get("Pss", 0),
            "uss_kb": fields.get("Private_Clean", 0) + fields.get("Private_Dirty", 0)}


def check(url, kind):
    if kind == "echo":
        data = bytes(range(256)) * 4096  # 1 MiB
        req = urllib.request.Request(url, data=data, method="POST",
                                     headers={"Content-Type": "application/octet-stream"})
        body = urllib.request.urlopen(req, timeout=10).read()
        ok = body == data or body == b"read"
    elif kind == "todo":
        req = urllib.request.Request(url, data=b'{"title": "buy milk", "done": false}', method="POST",
                                     headers={"Content-Type": "application/json"})
        r = urllib.request.urlopen(req, timeout=10)
        body = r.read()
        ok = r.status == 201 and json.loads(body).get("title") == "buy milk"
    elif kind == "todos":
        body = urllib.request.urlopen(url, timeout=10).read()
        ok = [t["title"] for t in json.loads(body)][:10] == ["todo %d" % (i + 1) for i in range(10)]
    elif kind.startswith("sleep:"):
        # bench/apps/sleep_wsgi.py: the body, and the wait behind it
        ms = int(kind.split(":", 1)[1])
        t0 = time.monotonic()
        body = urllib.request.urlopen(url, timeout=10).read()
        ok = body == b"slept %d ms\n" % ms and time.monotonic() - t0 >= ms / 1000.0
    elif kind == "django":
        # bench/django_site: item 1, read from PostgreSQL, rendered
        r = urllib.request.urlopen(url, timeout=10)
        body = r.read()
        ok = (r.status == 200 and b"<h1>Item 1</h1>" in body and b"Price: 199 cents" in body
              and r.headers.get("Content-Type", "").startswith("text/html"))
    else:
        body = urllib.request.urlopen(url, timeout=10).read()
        ok = body == b"Hello, World!" if kind == "hello" else len(body) == 65536
    return {"ok": ok, "length": len(body)}


def main():
    cmd = sys.argv[1]
    if cmd == "wrk":
        with open(sys.argv[2]) as f:
            print(json.dumps(parse_wrk(f.read())))
    elif cmd == "mem":
        print(json.dumps([m for m in (mem(p) for p in sys.argv[2:]) if m]))
    elif cmd == "check":
        result = check(sys.argv[2], sys.argv[3])
        print(json.dumps(result))
        sys.exit(0 if result["ok"] else 1)
    else:
        sys.exit("usage: measure.py wrk FILE | mem PID... | check URL KIND")


if __name__ == "__main__":
    main()
