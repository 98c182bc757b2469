#!/usr/bin/env python3
"""An open-loop client for bench/overload.sh: RATE requests a second for
SECONDS, each on its own connection, started on schedule whether or not the
earlier ones were answered (as users arrive: a closed-loop tool such as wrk
slows down with the server and so never overloads it). Each request gives up
after TIMEOUT seconds. Prints one JSON line:

    {"sent", "served" (2xx), "shed" (503), "timeouts", "errors",
     "p50_ms", "p99_ms" (of the served), "shed_p99_ms"}

    overload_client.py HOST PORT PATH RATE SECONDS TIMEOUT
"""
import asyncio
import json
import sys
import time


async def one(host, port, path, timeout, out):
    t0 = time.monotonic()
    try:
        async def exchange():
            reader, writer = await asyncio.open_connection(host, port)
            writer.write(f"GET {path} HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n".encode())
            await writer.drain()
            head = await reader.readline()
            await reader.read()
            writer.close()
            return int(head.split()[1])
        status = await asyncio.wait_for(exchange(), timeout)
    except asyncio.TimeoutError:
        out.append(("timeout", None))
        return
    except (OSError, IndexError, ValueError):
        out.append(("error", None))
        return
    out.append((status, (time.monotonic() - t0) * 1000))


def percentile(xs, p):
    if not xs:
        return None
    xs = sorted(xs)
    return round(xs[min(len(xs) - 1, int(p / 100 * len(xs)))], 1)


async def main(host, port, path, rate, seconds, timeout):
    out, tasks = [], []
    start = time.monotonic()
    n = int(rate * seconds)
    for i in range(n):
        delay = start + i / rate - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(host, port, path, timeout, out)))
    await asyncio.gather(*tasks)
    served = [ms for s, ms in out if isinstance(s, int) and 200 <= s < 300]
    shed = [ms for s, ms in out if s == 503]
    print(json.dumps({
        "sent": n, "served": len(served), "shed": len(shed),
        "timeouts": sum(1 for s, _ in out if s == "timeout"),
        "errors": sum(1 for s, _ in out if s == "error" or (isinstance(s, int) and s >= 300 and s != 503)),
        "p50_ms": percentile(served, 50), "p99_ms": percentile(served, 99),
        "shed_p99_ms": percentile(shed, 99),
    }))


if __name__ == "__main__":
    h, p, path, rate, secs, timeout = sys.argv[1:7]
    asyncio.run(main(h, int(p), path, float(rate), float(secs), float(timeout)))
