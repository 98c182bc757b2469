#!/usr/bin/env python3
"""Turns the raw measurements of bench/run.sh into results and a report.

    report.py --raw RAW.jsonl --env JSON --stamp STAMP --out FILE --latest FILE
        aggregates the runs (medians over rounds, ratios per round), checks the
        targets, writes the results JSON (FILE and --latest) and prints the table.
    report.py --results FILE --doc docs/performance.md
        writes the results (and bench/results/callgrind.json, if there) into
        the document, between its <!-- results:begin/end --> and
        <!-- callgrind:begin/end --> markers; the rest of it is left alone.

A ratio is gatewayd's requests/s over a reference's in the same round (the
two ran one after the other), and the figure given is the median of those
per-round ratios; "met" compares that median with the target.
"""
import argparse
import json
import os
import re
import statistics
import sys

# gatewayd-c-admin is measured against gatewayd-c-noadmin (admin_ka): the
# reference of that ratio is the same server with the admin listener off.
GATEWAYD = ("gatewayd-c", "gatewayd-swift", "gatewayd-testapp", "nginx+gatewayd-c", "gatewayd-wsgi", "gatewayd-c-admin", "gatewayd-todo",
            "nginx+gatewayd-http", "nginx+gatewayd-httpclose", "nginx+gatewayd-uwsgi", "nginx+gatewayd-fastcgi", "nginx+gatewayd-scgi",
            "nginx+gatewayd-wsgi-http", "nginx+gatewayd-wsgi-uwsgi", "gatewayd-2x8")
# gatewayd servers that are the reference in their workload: the other
# protocols are measured against gatewayd over HTTP behind the same nginx.
REFERENCES = {"behind_nginx": ("nginx+gatewayd-http", "nginx+gatewayd-httpclose"), "behind_nginx_wsgi": ("nginx+gatewayd-wsgi-http",)}


def is_reference(workload, server):
    return server not in GATEWAYD or server in REFERENCES.get(workload, ())
LABEL = {
    "hello_ka": "hello, keep-alive",
    "hello_close": "hello, Connection: close",
    "bytes_64k": "64 KB response",
    "echo_1m": "1 MB POST echoed",
    "idle_100": "hello + 100 idle keep-alive conns",
    "proxied": "behind nginx (unix socket)",
    "behind_nginx": "behind nginx, by protocol (hello-c, unix sockets)",
    "behind_nginx_wsgi": "behind nginx, WSGI minimal callable",
    "wsgi_hello": "WSGI, minimal callable",
    "wsgi_flask": "WSGI, Flask app",
    "todo_list": "JSON API, list (GET /todos, 10 items)",
    "todo_create": "JSON API, create (POST /todos)",
    "admin_ka": "hello, keep-alive, admin listener on vs off",
    "io_10ms_c64": "WSGI long I/O, sleep 10 ms, 64 connections",
    "io_10ms_c256": "WSGI long I/O, sleep 10 ms, 256 connections",
    "io_100ms_c64": "WSGI long I/O, sleep 100 ms, 64 connections",
    "io_100ms_c256": "WSGI long I/O, sleep 100 ms, 256 connections",
    "django_pg": "Django + PostgreSQL, one row rendered, 64 connections",
}
ORDER = list(LABEL)

# The app threads workloads (2 workers x 8 app threads per server; their own
# tables, bench/run.sh's threaded()): the app's wait in ms (io_*: the cap is
# workers x threads / wait), and the goals of gatewayd against its peers.
THREADED = {"io_10ms_c64": 10, "io_10ms_c256": 10, "io_100ms_c64": 100, "io_100ms_c256": 100, "django_pg": None}
THREADS_GATEWAYD = "gatewayd-2x8"
# io_*: at least 97 % of the cap, at least the best peer's requests/s, p99
# at most 0.8 x the best peer's; django_pg: at least 1.2 x the best peer, p99
# no worse than the best peer's.
IO_GOALS = {"cap": 0.97, "peer": 1.0, "p99": 0.8}
DJANGO_GOALS = {"peer": 1.2, "p99": 1.0}

# (workload, gatewayd server, reference, minimum ratio[, issue, strictly above])
RATE_TARGETS = [
    ("hello_ka", "gatewayd-c", "nginx", 0.9),
    ("hello_ka", "gatewayd-swift", "nginx", 0.85),
    ("hello_ka", "gatewayd-c", "granian", 2.0),
    ("hello_ka", "gatewayd-swift", "granian", 2.0),
    ("hello_ka", "gatewayd-c", "hummingbird", 2.5),
    ("hello_ka", "gatewayd-swift", "hummingbird", 2.5),
    ("hello_close", "gatewayd-c", "nginx", 1.0),
    ("hello_close", "gatewayd-swift", "nginx", 1.0),
    ("proxied", "nginx+gatewayd-c", "nginx+gunicorn", 5.0),
    # issue 8: the WSGI loader; "ahead" on Flask is a ratio above 1
    ("wsgi_hello", "gatewayd-wsgi", "granian", 1.2, 8, False),
    ("wsgi_hello", "gatewayd-wsgi", "gunicorn-sync", 5.0, 8, False),
    ("wsgi_flask", "gatewayd-wsgi", "granian", 1.0, 8, True),
    ("wsgi_flask", "gatewayd-wsgi", "gunicorn-sync", 1.0, 8, True),
    ("wsgi_flask", "gatewayd-wsgi", "gunicorn-gthread", 1.0, 8, True),
    # issue 18: the Swift SDK's router and Codable against Hummingbird 2's
    ("todo_list", "gatewayd-todo", "hummingbird", 2.0, 18, False),
    ("todo_create", "gatewayd-todo", "hummingbird", 2.0, 18, False),
    # issue 14: the admin listener costs the request path at most 2 %
    ("admin_ka", "gatewayd-c-admin", "gatewayd-c-noadmin", 0.98, 14, False),
    # issue 17: uwsgi, FastCGI and SCGI behind nginx; uWSGI itself with the same app
    ("behind_nginx", "nginx+gatewayd-uwsgi", "nginx+gatewayd-http", 1.0, 17, False),
    # like for like: nginx opens a connection per request over uwsgi and SCGI,
    # as its default proxy_pass does over HTTP
    ("behind_nginx", "nginx+gatewayd-uwsgi", "nginx+gatewayd-httpclose", 1.0, 17, False),
    ("behind_nginx", "nginx+gatewayd-scgi", "nginx+gatewayd-httpclose", 1.0, 17, False),
    ("behind_nginx_wsgi", "nginx+gatewayd-wsgi-uwsgi", "nginx+uwsgi", 1.0, 17, True),
]
P99_TARGETS = [(w, s, "nginx", 1.5) for w in ("hello_ka", "hello_close")
               for s in ("gatewayd-c", "gatewayd-swift")]
USS_TARGET_MB = 4.0


def median(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def mb(kb):
    return None if kb is None else round(kb / 1024, 2)


def per_worker(runs, key):
    """Mean over workers of the last round's memory figure (KiB)."""
    last = max(runs, key=lambda r: r.get("round", 0))
    ws = last.get("workers") or []
    return statistics.mean(w[key] for w in ws) if ws else None


def aggregate(raw, env, stamp):
    runs = [json.loads(l) for l in open(raw) if l.strip()]
    res = {"stamp": stamp, "environment": env, "workloads": {}, "idle_memory": {}}
    # servers that did not start (app threads workloads): kept with the reason
    failed = [r for r in runs if "failed" in r]
    runs = [r for r in runs if "failed" not in r]
    for r in runs:
        if r["workload"] == "idle_memory":
            ws = r["workers"]
            res["idle_memory"][r["server"]] = {
                "workers": len(ws),
                "uss_mb_max": mb(max(w["uss_kb"] for w in ws)),
                "uss_mb": mb(statistics.mean(w["uss_kb"] for w in ws)),
                "rss_mb": mb(statistics.mean(w["rss_kb"] for w in ws)),
                "pss_mb": mb(statistics.mean(w["pss_kb"] for w in ws)),
                "master_rss_mb": mb(r["master"][0]["rss_kb"]) if r.get("master") else None,
            }
    for w in ORDER:
        wruns = [r for r in runs if r["workload"] == w]
        if not wruns:
            continue
        servers = list(dict.fromkeys(r["server"] for r in sorted(wruns, key=lambda r: (r["round"], r["position"]))))
        # keep the order the workload lists them in (round 1)
        servers = [r["server"] for r in sorted(wruns, key=lambda r: (r["round"], r["position"])) if r["round"] == 1] or servers
        out = {}
        for s in servers:
            sr = [r for r in wruns if r["server"] == s]
            entry = {
                "rounds": {str(r["round"]): r["rps"] for r in sr},
                "rps": median(r["rps"] for r in sr),
                # a run with no answer has no latency (wrk prints 0us)
                "p50_ms": median(r["p50_ms"] for r in sr if r["requests"]),
                "p99_ms": median(r["p99_ms"] for r in sr if r["requests"]),
                "p99_ms_rounds": [r["p99_ms"] for r in sr],
                "requests": sum(r["requests"] for r in sr),
                "errors": sum(r["errors"] for r in sr),
                "socket_errors": sum(r["socket_errors"] for r in sr),
                "non2xx": sum(r["non2xx"] for r in sr),
                "workers_replaced": sum(r.get("workers_replaced", 0) for r in sr),
                "socket_errors_detail": {k: sum(r.get("socket_errors_detail", {}).get(k, 0) for r in sr)
                                         for k in ("connect", "read", "write", "timeout")},
                "workers": len(sr[-1].get("workers") or []),
                "rss_mb_per_worker": mb(per_worker(sr, "rss_kb")),
                "pss_mb_per_worker": mb(per_worker(sr, "pss_kb")),
                "uss_mb_per_worker": mb(per_worker(sr, "uss_kb")),
            }
            last = max(sr, key=lambda r: r["round"])
            entry["pss_mb_total"] = mb(sum(x["pss_kb"] for x in (last.get("workers") or []) + (last.get("master") or [])))
            if last.get("tree"):
                # every process of the server (master, workers, helpers)
                entry["pss_mb_tree"] = mb(sum(x["pss_kb"] for x in last["tree"]))
                entry["processes"] = len(last["tree"])
            if last.get("threads"):
                entry["threads"] = last["threads"]
            if last.get("connections"):
                entry["connections"] = last["connections"]
            if "idle_connections" in sr[0]:
                entry["idle_connections_alive_min"] = min(r["idle_connections"].get("alive", 0) for r in sr)
            out[s] = entry
        # ratios: each gatewayd server against each reference, per round
        for g in (s for s in servers if not is_reference(w, s)):
            ratios = {}
            for ref in (s for s in servers if is_reference(w, s)):
                per_round = []
                for rnd, grps in out[g]["rounds"].items():
                    rrps = out[ref]["rounds"].get(rnd)
                    if rrps:
                        per_round.append(grps / rrps)
                if per_round:
                    ratios[ref] = {"median": round(median(per_round), 3),
                                   "rounds": [round(x, 3) for x in per_round]}
            out[g]["ratios"] = ratios
            if "nginx" in out and out["nginx"]["p99_ms"] and out[g]["p99_ms"]:
                out[g]["p99_vs_nginx"] = round(out[g]["p99_ms"] / out["nginx"]["p99_ms"], 3)
        res["workloads"][w] = out
    for f in failed:
        res["workloads"].setdefault(f["workload"], {})[f["server"]] = {"failed": f["failed"]}
    for w in THREADED:
        if w in res["workloads"]:
            threaded_figures(w, res["workloads"][w], env)
    res["targets"] = targets(res)
    return res


def threaded_figures(w, out, env):
    """The cap and each server's share of it (io_*), the best peer by
    requests/s and by p99, gatewayd's ratios to them (in out["_summary"])."""
    workers = env.get("server_workers", 2)
    threads = env.get("threads", 8)
    ms = THREADED[w]
    cap = workers * threads * 1000.0 / ms if ms else None
    peers = {s: e for s, e in out.items() if s != THREADS_GATEWAYD and not s.startswith("_") and "rps" in e}
    for s, e in out.items():
        if cap and "rps" in e:
            e["cap_ratio"] = round(e["rps"] / cap, 3)
    best = max(peers, key=lambda s: peers[s]["rps"]) if peers else None
    with_p99 = [s for s in peers if peers[s].get("p99_ms")]
    best_p99 = min(with_p99, key=lambda s: peers[s]["p99_ms"]) if with_p99 else None
    g = out.get(THREADS_GATEWAYD, {})
    conns = next((e["connections"] for e in out.values() if e.get("connections")), None)
    # Little's law: wrk keeps every connection's request outstanding, so at a
    # throughput X the mean latency is connections / X; at the cap no server's
    # mean can be below connections / cap (io_*: 40 ms for 64 connections and
    # 10 ms), and its p99 hardly either.
    floor = round(conns * 1000.0 / cap, 1) if cap and conns else None
    summary = {"cap_rps": cap, "workers": workers, "threads": threads, "sleep_ms": ms,
               "connections": conns, "latency_floor_ms": floor,
               "best_peer": best, "best_peer_p99": best_p99,
               "gatewayd_threads": g.get("threads"), "gatewayd_failed": g.get("failed")}
    if best and "ratios" in g and best in g["ratios"]:
        summary["vs_best_peer"] = g["ratios"][best]["median"]
    if best_p99:
        summary["best_peer_p99_ms"] = peers[best_p99]["p99_ms"]
    if best_p99 and g.get("p99_ms"):
        summary["p99_vs_best_peer"] = round(g["p99_ms"] / peers[best_p99]["p99_ms"], 3)
    if cap and "rps" in g:
        summary["gatewayd_cap_ratio"] = g["cap_ratio"]
    out["_summary"] = summary


def threaded_goals(w, summary):
    """[(goal text, value, met or None)] for one app threads workload."""
    g = THREADS_GATEWAYD
    rows = []
    def row(text, key, goal, below=False):
        v = summary.get(key)
        rows.append((text, v, None if v is None else (v <= goal if below else v >= goal)))
    if summary.get("sleep_ms"):
        row("%s >= %.0f %% of the cap (%d x %d / %d ms = %.0f/s)" % (
            g, 100 * IO_GOALS["cap"], summary["workers"], summary["threads"], summary["sleep_ms"], summary["cap_rps"]),
            "gatewayd_cap_ratio", IO_GOALS["cap"])
        peer, p99 = IO_GOALS["peer"], IO_GOALS["p99"]
    else:
        peer, p99 = DJANGO_GOALS["peer"], DJANGO_GOALS["p99"]
    row("%s >= %.2f x the best peer's requests/s (%s)" % (g, peer, summary.get("best_peer") or "-"), "vs_best_peer", peer)
    text = "%s p99 <= %.2f x the best peer's p99 (%s)" % (g, p99, summary.get("best_peer_p99") or "-")
    floor, best = summary.get("latency_floor_ms"), summary.get("best_peer_p99_ms")
    if floor and best and p99 * best < floor:
        # the goal asks for less than the mean latency at the cap
        text += ": %.0f ms, below the %.0f ms floor (connections / cap)" % (p99 * best, floor)
    row(text, "p99_vs_best_peer", p99, True)
    return rows


def targets(res):
    t = []
    for w, g, ref, goal, *more in RATE_TARGETS:
        issue, strict = more if more else (7, False)
        r = res["workloads"].get(w, {}).get(g, {}).get("ratios", {}).get(ref)
        met = None
        if r is not None:
            met = r["median"] > goal if strict else r["median"] >= goal
        t.append({"target": "%s: %s %s %.2f x %s requests/s" % (LABEL[w], g, ">" if strict else ">=", goal, ref),
                  "value": r["median"] if r else None, "met": met, "issue": issue})
    for w, g, ref, goal in P99_TARGETS:
        v = res["workloads"].get(w, {}).get(g, {}).get("p99_vs_nginx")
        t.append({"target": "%s: %s p99 <= %.1f x nginx p99" % (LABEL[w], g, goal),
                  "value": v, "met": None if v is None else v <= goal})
    for w in THREADED:
        summary = res["workloads"].get(w, {}).get("_summary")
        if summary:
            for text, v, met in threaded_goals(w, summary):
                t.append({"target": "%s: %s" % (LABEL[w], text), "value": v, "met": met, "issue": "threads"})
    for s in ("gatewayd-c", "gatewayd-swift"):
        m = res["idle_memory"].get(s)
        v = m["uss_mb_max"] if m else None
        t.append({"target": "idle worker USS < %g MB: %s" % (USS_TARGET_MB, s),
                  "value": v, "met": None if v is None else v < USS_TARGET_MB})
    return t


def fmt(x, nd=2):
    if x is None:
        return "-"
    if isinstance(x, float):
        return ("%.*f" % (nd, x))
    return str(x)


def table(res):
    head = ["workload", "server", "req/s (median)", "p50 ms", "p99 ms", "errors",
            "RSS MB/worker", "PSS MB/worker", "gatewayd / this"]
    rows = []
    for w in ORDER:
        out = res["workloads"].get(w)
        if not out or w in THREADED:  # threaded_table
            continue
        gws = [s for s in out if not is_reference(w, s)]
        for s, e in out.items():
            ratio = ""
            if is_reference(w, s):
                ratio = ", ".join("%s %.2fx" % (g.replace("gatewayd-", "gw-").replace("nginx+", ""), out[g]["ratios"][s]["median"])
                                  for g in gws if s in out[g].get("ratios", {}))
            name = s
            if "idle_connections_alive_min" in e:
                name += " (%d idle kept)" % e["idle_connections_alive_min"]
            if e.get("workers_replaced"):
                name += " [%d worker(s) replaced]" % e["workers_replaced"]
            err = str(e["errors"])
            if e["errors"]:
                kinds = ["%s %d" % (k, v) for k, v in e.get("socket_errors_detail", {}).items() if v]
                if e["non2xx"]:
                    kinds.append("non-2xx %d" % e["non2xx"])
                err += " (%s)" % ", ".join(kinds)
            rows.append([LABEL[w], name, "%.0f" % e["rps"], fmt(e["p50_ms"]), fmt(e["p99_ms"]), err,
                         fmt(e["rss_mb_per_worker"], 1), fmt(e["pss_mb_per_worker"], 1), ratio])
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join(" --- " for _ in head) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def memory_table(res):
    lines = ["| server | workers | USS MB/worker (max) | RSS MB/worker | PSS MB/worker | master RSS MB |",
             "| --- | --- | --- | --- | --- | --- |"]
    for s, m in res["idle_memory"].items():
        lines.append("| %s | %d | %s (%s) | %s | %s | %s |" % (
            s, m["workers"], fmt(m["uss_mb"]), fmt(m["uss_mb_max"]), fmt(m["rss_mb"]),
            fmt(m["pss_mb"]), fmt(m["master_rss_mb"])))
    return "\n".join(lines)


def targets_table(res, issue=None):
    lines = ["| target | measured | |", "| --- | --- | --- |"]
    for t in res["targets"]:
        if issue is not None and t.get("issue", 7) != issue:
            continue
        verdict = "not measured" if t["met"] is None else ("met" if t["met"] else "**not met**")
        lines.append("| %s | %s | %s |" % (t["target"], fmt(t["value"], 3), verdict))
    return "\n".join(lines)


def results_block(res):
    env = res["environment"]
    v = env.get("versions", {})
    return "\n".join([
        "Run %s (commit %s): %d rounds of %d s per server and workload, wrk %d thread(s) x %d connections, "
        "2 workers per server; %d cores (%s), kernel %s; load average before the run %s. "
        "nginx's echo: %s." % (
            res["stamp"], env.get("commit"), env.get("rounds"), env.get("duration_s"),
            env.get("wrk_threads"), env.get("connections"), env.get("cores"), env.get("cpu"),
            env.get("kernel"), " ".join(env.get("loadavg_before", [])),
            "the echo module (body read into memory and sent back)" if env.get("nginx_echo") == "module"
            else "none (body read and dropped, short 200)"),
        "",
        "Versions: %s; %s; %s; %s; %s; Hummingbird %s (SwiftNIO %s); Python %s; %s; uWSGI %s." % (
            v.get("nginx"), v.get("wrk"), v.get("granian"), v.get("gunicorn"), v.get("swift"),
            v.get("hummingbird"), v.get("swift-nio"), v.get("python"), v.get("flask", "Flask ?"), v.get("uwsgi", "?")),
        "",
        table(res),
        "",
        "Memory after the last round, per worker (Hummingbird: its one process). "
        "The ratio column is the median over rounds of gatewayd's requests/s over that server's, same round."
        + (" The app threads workloads (%s) have their tables in their own sections (App threads)."
           % ", ".join(w for w in THREADED if w in res["workloads"]) if any(w in res["workloads"] for w in THREADED) else ""),
        "",
        "Idle memory: each server alone, after 1 s of light load (4 connections), 1 s idle:",
        "",
        memory_table(res),
        "",
        "Targets (issue 7):",
        "",
        targets_table(res, 7),
        "",
        "Targets (issue 8, the WSGI loader: gatewayd-wsgi is gatewayd with build/apps/wsgi.so):",
        "",
        targets_table(res, 8),
        "",
        "Targets (issue 17, behind nginx by protocol: uwsgi_pass, fastcgi_pass with a keep-alive upstream, "
        "scgi_pass, proxy_pass; uWSGI is uWSGI from PyPI with the same app over uwsgi):",
        "",
        targets_table(res, 17),
        "",
        protocol_ratios(res),
    ])


def threaded_table(res, workloads):
    """One row per server of the app threads workloads given."""
    cap = any(THREADED[w] for w in workloads)
    head = ["workload", "server", "req/s (median)"] + (["/ cap"] if cap else []) + [
        "p50 ms", "p99 ms", "errors", "PSS MB, whole server (processes)", "gatewayd / this (req/s)"]
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join(" --- " for _ in head) + "|"]
    failures = {}
    for w in workloads:
        out = res["workloads"].get(w)
        if not out:
            continue
        summary = out.get("_summary", {})
        g = out.get(THREADS_GATEWAYD, {})
        # gatewayd first (a server that did not start is recorded last)
        for s, e in sorted(out.items(), key=lambda kv: kv[0] != THREADS_GATEWAYD):
            if s.startswith("_"):
                continue
            label = LABEL[w].replace("WSGI long I/O, ", "")
            if cap and summary.get("cap_rps"):
                label += " (cap %.0f/s, latency floor %.0f ms)" % (summary["cap_rps"], summary["latency_floor_ms"] or 0)
            name = s
            if e.get("threads") and e["threads"] != summary.get("threads"):
                name += " (run with --threads %d)" % e["threads"]
            if "failed" in e:
                # the reason once, under the table (a pid apart, the same in every workload)
                failures.setdefault(s, set()).add(re.sub(r"\[worker \d+\] ", "", e["failed"]))
                lines.append("| " + " | ".join([label, name, "did not start"] + ["-"] * (len(head) - 3)) + " |")
                continue
            if e.get("workers_replaced"):
                name += " [%d worker(s) replaced]" % e["workers_replaced"]
            err = str(e["errors"])
            if e["errors"]:
                kinds = ["%s %d" % (k, v) for k, v in e.get("socket_errors_detail", {}).items() if v]
                if e["non2xx"]:
                    kinds.append("non-2xx %d" % e["non2xx"])
                err += " (%s)" % ", ".join(kinds)
            ratio = ""
            if s != THREADS_GATEWAYD and s in g.get("ratios", {}):
                ratio = "%.2fx" % g["ratios"][s]["median"]
            pss = "-" if e.get("pss_mb_tree") is None else "%.1f (%d)" % (e["pss_mb_tree"], e.get("processes", 0))
            row = [label, name, "%.0f" % e["rps"]] + (["%.2f" % e["cap_ratio"] if "cap_ratio" in e else "-"] if cap else []) + [
                fmt(e["p50_ms"]), fmt(e["p99_ms"]), err, pss, ratio]
            lines.append("| " + " | ".join(row) + " |")
    for s, whys in failures.items():
        lines += ["", "%s: %s" % (s, "; ".join("`%s`" % why for why in sorted(whys)))]
    return "\n".join(lines)


def threaded_goals_table(res, workloads):
    lines = ["| workload | goal | measured | |", "| --- | --- | --- | --- |"]
    for w in workloads:
        summary = res["workloads"].get(w, {}).get("_summary")
        if not summary:
            continue
        for text, v, met in threaded_goals(w, summary):
            if met is None:
                verdict = "not measured" + (" (%s did not start)" % THREADS_GATEWAYD if summary.get("gatewayd_failed") else "")
            else:
                verdict = "met" if met else "**not met**"
            if summary.get("gatewayd_threads") and summary["gatewayd_threads"] != summary["threads"] and met is not None:
                verdict += " (gatewayd ran with --threads %d)" % summary["gatewayd_threads"]
            lines.append("| %s | %s | %s | %s |" % (LABEL[w], text, fmt(v, 3), verdict))
    return "\n".join(lines)


THREADED_BLOCKS = {
    "threads_io": ["io_10ms_c64", "io_10ms_c256", "io_100ms_c64", "io_100ms_c256"],
    "threads_django": ["django_pg"],
}


def threaded_block(res, workloads):
    env = res["environment"]
    v = env.get("versions", {})
    venv = v.get("bench_venv", {})
    parts = []
    if env.get("quick"):
        parts += ["**Validation run, not the final figures**: `QUICK=1`, %d round(s) of %d s, to check the scripts; "
                  "the machine may have been busy (load average before the run %s)." % (
                      env.get("rounds"), env.get("duration_s"), " ".join(env.get("loadavg_before", []))), ""]
    parts += [
        "Run %s (commit %s): %d round(s) of %d s per server and workload, wrk %d thread(s), `--timeout 30s`; "
        "every server %d workers x %d app threads; %d cores (%s), kernel %s; load average before the run %s." % (
            res["stamp"], env.get("commit"), env.get("rounds"), env.get("duration_s"), env.get("wrk_threads"),
            env.get("server_workers", 2), env.get("threads", 8), env.get("cores"), env.get("cpu"), env.get("kernel"),
            " ".join(env.get("loadavg_before", []))),
        "",
        "Versions (build/bench-venv): gunicorn %s, granian %s, Django %s, psycopg %s; %s; Python %s%s." % (
            venv.get("gunicorn", "?"), venv.get("granian", "?"), venv.get("django", "?"), venv.get("psycopg", "?"),
            "uWSGI " + v.get("uwsgi", "?"), v.get("python", "?"),
            ("; " + v["postgresql"]) if "django_pg" in workloads and v.get("postgresql") else ""),
        "",
        threaded_table(res, workloads),
        "",
        "PSS: the sum over the server's whole process tree (master, workers, anything they started), from "
        "`/proc/PID/smaps_rollup` after the last round. The last column is the median over rounds of "
        "gatewayd's requests/s over that server's, same round.",
        "",
        threaded_goals_table(res, workloads),
    ]
    return "\n".join(parts)


def protocol_ratios(res):
    """Every ratio of the two behind-nginx workloads, one line each."""
    lines = ["| workload | server | / reference | ratio (median of rounds) |", "| --- | --- | --- | --- |"]
    for w in ("behind_nginx", "behind_nginx_wsgi"):
        for s, e in res["workloads"].get(w, {}).items():
            for ref, r in e.get("ratios", {}).items():
                lines.append("| %s | %s | %s | %.3f |" % (LABEL[w], s, ref, r["median"]))
    return "\n".join(lines) if len(lines) > 2 else "Not measured in this run."


def callgrind_block(path):
    if not os.path.exists(path):
        return "No callgrind run yet: `bash bench/callgrind.sh`."
    c = json.load(open(path))
    out = ["Run %s (`bench/callgrind.sh`): %d requests on one keep-alive connection, %d with "
           "`Connection: close`; callgrind counts user-space instructions of the whole process tree "
           "(master and worker), minus a run of 0 requests, divided by the count; strace counts "
           "syscalls the same way.%s" % (c.get("stamp"), c["requests"], c.get("close_requests", 0),
                                         " The JSON API (todo) runs: %d keep-alive requests each." % c["todo_requests"]
                                         if any("todo" in k for k in c["servers"]) and c.get("todo_requests") else ""), "",
           "| server | instructions / request | syscalls / request | by call |",
           "| --- | --- | --- | --- |"]
    for name, s in c["servers"].items():
        sc = s.get("syscalls", {})
        detail = ", ".join("%s %.2f" % (k, v) for k, v in sorted(sc.get("per_request", {}).items(), key=lambda kv: -kv[1])[:8])
        out.append("| %s | %s | %s | %s |" % (name, fmt(s.get("instructions_per_request"), 0),
                                               fmt(sc.get("total_per_request")), detail or "-"))
    if c.get("under_load"):
        out += ["", "Under load (2 workers, wrk 50 connections, `perf stat` on the workers for 3 s), per request:", "",
                "| server | mode | req/s | syscalls | epoll_wait | accept4 | context switches | worker CPU us |",
                "| --- | --- | --- | --- | --- | --- | --- | --- |"]
        for l in c["under_load"]:
            out.append("| %s | %s | %.0f | %.2f | %.2f | %.2f | %.3f | %.2f |" % (
                l["server"], l["mode"], l["rps"], l["syscalls"], l["epoll_wait"], l["accept4"],
                l["context_switches"], l["cpu_us"]))
    for name, s in c["servers"].items():
        if s.get("top"):
            out += ["", "Top functions, %s: the worker's own instructions per request (self cost, run minus baseline):" % name, "", "```"]
            out += ["%10.0f  %s" % (f["per_request"], f["function"]) for f in s["top"][:12]]
            out.append("```")
    return "\n".join(out)


def overload_block(path):
    if not os.path.exists(path):
        return "No overload run yet: `flock /tmp/gatewayd-bench.lock bash bench/overload.sh`."
    o = json.load(open(path))
    out = ["Run %s (`bench/overload.sh`): %d workers on a route that sleeps %d ms (so they carry %.0f "
           "requests/s), behind nginx setting `X-Request-Start \"t=${msec}\"`; an open-loop client sends at a "
           "fixed rate for %.0f s, one connection per request, each giving up after %.0f s (timeouts). "
           "Load average at the end: %s." % (o["stamp"], o["workers"], o["service_ms"], o["workers"] * 1000 / o["service_ms"],
                                              o["seconds"], o["client_timeout_s"], " ".join(o.get("loadavg", []))), "",
           "| load | sent | served | p50 served | p99 served | shed (503) | timeouts | errors |",
           "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for r in o["rows"]:
        share = lambda n: "%d (%.0f%%)" % (n, 100.0 * n / r["sent"]) if r["sent"] else "-"
        out.append("| %s | %d | %s | %s ms | %s ms | %s | %s | %d |" % (
            r["label"], r["sent"], share(r["served"]), fmt(r.get("p50_ms"), 0), fmt(r.get("p99_ms"), 0),
            share(r["shed"]), share(r["timeouts"]), r["errors"]))
    return "\n".join(out)


def replace_block(doc, name, body):
    begin, end = "<!-- %s:begin -->" % name, "<!-- %s:end -->" % name
    block = "%s\n%s\n%s" % (begin, body, end)
    if begin in doc and end in doc:
        return re.sub(re.escape(begin) + ".*?" + re.escape(end), lambda _: block, doc, flags=re.S)
    return doc.rstrip("\n") + "\n\n" + block + "\n"


def write_doc(results_path, doc_path, blocks=None):
    """Rewrites the generated blocks (all, or those named in blocks). An app
    threads block is left alone when the results have none of its workloads."""
    res = json.load(open(results_path))
    doc = open(doc_path).read() if os.path.exists(doc_path) else "# Performance\n"
    want = lambda name: blocks is None or name in blocks
    if want("results"):
        doc = replace_block(doc, "results", results_block(res))
    cg = os.path.join(os.path.dirname(results_path), "callgrind.json")
    if want("callgrind"):
        doc = replace_block(doc, "callgrind", callgrind_block(cg))
    if want("overload"):
        doc = replace_block(doc, "overload", overload_block(os.path.join(os.path.dirname(results_path), "overload.json")))
    for name, workloads in THREADED_BLOCKS.items():
        if want(name) and any(w in res["workloads"] for w in workloads):
            doc = replace_block(doc, name, threaded_block(res, workloads))
    with open(doc_path, "w") as f:
        f.write(doc)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--raw")
    ap.add_argument("--env")
    ap.add_argument("--stamp")
    ap.add_argument("--out")
    ap.add_argument("--latest")
    ap.add_argument("--results")
    ap.add_argument("--doc")
    ap.add_argument("--blocks", help="comma-separated blocks of --doc to rewrite (default: all): results, callgrind, "
                    "overload, " + ", ".join(THREADED_BLOCKS))
    a = ap.parse_args()
    if a.raw:
        res = aggregate(a.raw, json.loads(a.env), a.stamp)
        for path in (a.out, a.latest):
            if path:
                with open(path, "w") as f:
                    json.dump(res, f, indent=1)
                    f.write("\n")
        print(table(res))
        print()
        for workloads in THREADED_BLOCKS.values():
            if any(w in res["workloads"] for w in workloads):
                print(threaded_table(res, workloads))
                print()
                print(threaded_goals_table(res, workloads))
                print()
        print(memory_table(res))
        print()
        print(targets_table(res))
    if a.results and a.doc:
        write_doc(a.results, a.doc, a.blocks.split(",") if a.blocks else None)
    if not (a.raw or (a.results and a.doc)):
        ap.error("give --raw ... or --results FILE --doc FILE")


if __name__ == "__main__":
    sys.exit(main())
