"""Logs are one event per line: every byte that comes from a client or an
app is escaped as nginx's escape=default does (\\xHH for `"`, `\\`, bytes
below 0x20 and from 0x7F up), so no input can start a log line or forge a
field. The error log keeps `"` as is: its own messages quote with it."""
import os
import time

from conftest import Client, curl, http


def wait_lines(path, n, timeout=5):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if os.path.exists(path):
            data = open(path, "rb").read()
            if data.count(b"\n") >= n and data.endswith(b"\n"):
                break
        time.sleep(0.05)
    time.sleep(0.2)  # nothing more must come
    return open(path, "rb").read().split(b"\n")[:-1]


def request_lines(server, marker):
    """The error-log lines (bytes) of the server's log that hold `marker`."""
    with open(server.log_path, "rb") as f:
        return [line for line in f.read().split(b"\n") if marker in line]


def test_access_log_escapes_client_bytes(gatewayd, workdir):
    path = os.path.join(workdir, "access.log")
    s = gatewayd(access_log=path, workers=1)
    raw = (b'GET /bytes?n=1&q="x\\y HTTP/1.1\r\nHost: t\r\n'
           b'User-Agent: a"b\\c\td\xe9\r\n'
           b'Referer: " 200 0 "-" "forged\r\n\r\n')
    reply = http(s.port, raw + b"GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
    assert reply.count(b"HTTP/1.1 200") == 2, reply
    # A bare CR in a header value is refused: no line of it may hold the value raw.
    assert http(s.port, b"GET / HTTP/1.1\r\nHost: t\r\nUser-Agent: a\rforged\r\n\r\n").startswith(b"HTTP/1.1 400")
    lines = wait_lines(path, 3)
    # the refused request (a bare CR in a field) has its own line: the request line as received
    assert len(lines) == 3, lines
    assert lines[2].endswith(b'"GET / HTTP/1.1" 400 16 "-" "-"'), lines[2]
    first = lines[0].decode("ascii")
    assert '"GET /bytes?n=1&q=\\x22x\\x5Cy HTTP/1.1" 200 1 ' in first, first
    assert first.endswith('"\\x22 200 0 \\x22-\\x22 \\x22forged" "a\\x22b\\x5Cc\\x09d\\xE9"'), first
    assert all(b"forged" not in line for line in lines[1:])
    assert all(b < 0x80 for b in b"".join(lines)), lines


def event_lines(server, marker):
    """The log lines of the event whose first line holds `marker`: that line
    and the continuation lines ("] | ") of the same prefix after it."""
    lines = open(server.log_path, "rb").read().split(b"\n")
    first = next(i for i, line in enumerate(lines) if marker in line)
    prefix = lines[first][:lines[first].index(b"] ", lines[first].index(b"[worker ")) + 2]
    out = [lines[first]]
    for line in lines[first + 1:]:
        if not line.startswith(prefix + b"| "):
            break
        out.append(line)
    return out


def test_app_log_message_with_a_newline_is_one_event(gatewayd):
    # A line break in a message starts a continuation line of the same event
    # (issue 24: tracebacks readable): each line has the event's prefix and
    # "| ", so nothing the app writes passes for another event.
    s = gatewayd(workers=1)
    with Client(s.port) as c:
        r = c.request(path="/log?msg=first%0Asecond%0D%0A2026-01-01%2000:00:00%20[error]%20forged%5C%22%09%C3%A9")
        assert r.status == 200
    s.wait_log("first")
    time.sleep(0.2)
    lines = [l.decode("ascii") for l in event_lines(s, b"] first")]
    assert len(lines) == 3, lines
    assert all('[warning] [worker ' in l for l in lines)
    assert lines[0].endswith("] first gen=1") and lines[1].endswith("] | second"), lines  # metadata on the first
    assert lines[2].endswith('] | 2026-01-01 00:00:00 [error] forged\\x5C"\\x09\\xC3\\xA9 (GET /log?msg='
                             'first%0Asecond%0D%0A2026-01-01%2000:00:00%20[error]%20forged%5C%22%09%C3%A9)'), lines[2]
    assert not any(line.startswith(b"2026-01-01") or line.startswith(b"second")
                   for line in open(s.log_path, "rb").read().split(b"\n"))


def test_a_refused_app_header_is_quoted_in_one_event(gatewayd):
    s = gatewayd(workers=1)
    with Client(s.port) as c:
        r = c.request(path="/bad-header?name=X%0AForged:%201%1B[31m")
        assert r.status == 500
    s.wait_log("invalid header name")
    time.sleep(0.2)
    lines = event_lines(s, b"invalid header name")
    assert len(lines) == 2, lines
    assert lines[0].endswith(b'invalid header name "X gen=1') and b'] | Forged: 1\\x1B[31m" (GET /bad-header?name=' in lines[1], lines
    assert not any(line.startswith(b"Forged") for line in open(s.log_path, "rb").read().split(b"\n"))
    assert b"\x1b" not in open(s.log_path, "rb").read()


def test_request_label_is_escaped(gatewayd):
    s = gatewayd(workers=1)
    http(s.port, b'GET /log?msg=labelled&x="\\ HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n')
    s.wait_log("labelled")
    time.sleep(0.2)
    lines = request_lines(s, b"labelled")
    assert len(lines) == 1 and b'(GET /log?msg=labelled&x="\\x5C) gen=1' in lines[0], lines


def test_app_log_levels(gatewayd):
    # docs/gateway-interface.md: below log_level dropped; an unknown level is an error.
    s = gatewayd(workers=1)
    with Client(s.port) as c:
        for msg, level in (("lvl-debug", 0), ("lvl-info", 1), ("lvl-unknown-7", 7), ("lvl-minus-1", -1)):
            assert c.request(path=f"/log?msg={msg}&level={level}").status == 200
    s.wait_log("lvl-minus-1")
    time.sleep(0.2)
    assert not request_lines(s, b"lvl-debug")
    assert b"[info]" in request_lines(s, b"lvl-info")[0]
    assert b"[error]" in request_lines(s, b"lvl-unknown-7")[0]
    assert b"[error]" in request_lines(s, b"lvl-minus-1")[0]


def test_log_settings_take_effect_on_reload(gatewayd, workdir):
    import signal as signals
    import time as clock
    first, second, access = (os.path.join(workdir, n) for n in ("first.log", "second.log", "access.log"))
    s = gatewayd(workers=1, error_log=first, start=False)
    s.start(wait=False)
    deadline = clock.time() + 15
    while clock.time() < deadline and not (os.path.exists(first) and "workers ready" in open(first).read()):
        clock.sleep(0.1)
    s.settings.update(error_log=second, access_log=access, log_level="debug")
    s.write_config()
    s.signal(signals.SIGHUP)
    deadline = clock.time() + 15
    while clock.time() < deadline and not (os.path.exists(second) and "generation 2 serving" in open(second).read()):
        clock.sleep(0.1)
    assert os.path.exists(second) and "generation 2 serving" in open(second).read(), open(first).read()[-1500:]
    before = open(first).read()
    assert curl(s.url("/log?msg=after-reload")).returncode == 0
    clock.sleep(0.5)
    assert "after-reload" in open(second).read()
    assert "after-reload" not in open(first).read()
    assert '"GET /log?msg=after-reload HTTP/1.1" 200' in open(access).read()
    assert open(first).read() == before


# ------------------------------------------------------------ log_format

ERROR_KEYS = {"time", "level", "source", "pid", "message"}
ACCESS_KEYS = {"time", "remote_addr", "method", "path", "query", "protocol", "status", "body_bytes_sent",
               "request_time_us", "referer", "user_agent", "host", "pid", "worker", "generation"}


def test_json_logs_parse_line_by_line_with_the_documented_keys(gatewayd, workdir):
    import json
    access = os.path.join(workdir, "access.log")
    s = gatewayd(workers=1, timeout=1, log_format="json", access_log=access)
    error = s.log_path  # the error log is stderr
    nasty = b'a"b\\c\td\xc3\xa9\xff'
    raw = (b"GET /log?msg=say%22hi%22%0Aforged HTTP/1.1\r\nHost: t\r\nUser-Agent: " + nasty + b"\r\n\r\n"
           b"GET /bytes?n=3 HTTP/1.1\r\nHost: t\r\nReferer: " + nasty + b"\r\nConnection: close\r\n\r\n")
    assert http(s.port, raw).count(b"HTTP/1.1 200") == 2
    # a timeout: its stack lines are JSON too, at error
    assert http(s.port, b"GET /spin?seconds=30 HTTP/1.1\r\nHost: t\r\n\r\n", timeout=10).startswith(b"HTTP/1.1 504")
    deadline = time.time() + 10
    while time.time() < deadline and b"testapp_spin" not in open(error, "rb").read():
        time.sleep(0.05)
    errors = [json.loads(line) for line in open(error, "rb").read().split(b"\n") if line]
    assert all(ERROR_KEYS <= set(o) for o in errors), errors
    assert {o["source"] for o in errors} == {"master", "worker"}
    said = [o for o in errors if "say" in o["message"]]
    assert said and said[0]["message"].startswith('say"hi"\nforged (GET /log') and said[0]["level"] == "warning", said
    stack = [o for o in errors if o["message"].startswith("stack: ")]
    assert any("testapp_spin" in o["message"] for o in stack) and all(o["level"] == "error" for o in stack)
    accesses = [json.loads(line) for line in wait_lines(access, 3)]
    assert all(set(o) == ACCESS_KEYS for o in accesses), accesses
    first, second = accesses[0], accesses[1]
    assert first["method"] == "GET" and first["path"] == "/log" and first["status"] == 200
    assert first["query"] == "msg=say%22hi%22%0Aforged" and first["protocol"] == "HTTP/1.1"
    assert first["user_agent"] == 'a"b\\c\td\u00e9\ufffd', first  # é kept, the stray byte replaced
    assert second["referer"] == first["user_agent"] and second["user_agent"] is None
    assert second["body_bytes_sent"] == 3 and second["host"] == "t" and second["generation"] == 1


def test_under_journal_stream_lines_carry_a_priority_and_no_timestamp(gatewayd, monkeypatch):
    s = gatewayd(workers=1, timeout=1, access_log="-", start=False)
    open(s.log_path, "ab").close()
    st = os.stat(s.log_path)   # stderr of gatewayd: the journal's stream, as systemd would set it
    monkeypatch.setenv("JOURNAL_STREAM", f"{st.st_dev}:{st.st_ino}")
    s.start()
    assert http(s.port, b"GET /log?msg=journal-check HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n").startswith(b"HTTP/1.1 200")
    assert http(s.port, b"GET /spin?seconds=30 HTTP/1.1\r\nHost: t\r\n\r\n", timeout=10).startswith(b"HTTP/1.1 504")
    s.wait_log("testapp_spin")
    lines = s.log().splitlines()
    assert lines and all(line[:3] in ("<2>", "<3>", "<4>", "<6>", "<7>") for line in lines), lines
    assert any(line.startswith(f"<6>[info] [master {s.pid}] ") for line in lines)
    assert any(line.startswith("<4>[warning] [worker ") and "journal-check" in line for line in lines)
    assert any(line.startswith(f"<3>[error] [master {s.pid}] worker ") and "timed out" in line for line in lines)
    assert any(line.startswith("<3>[error] [worker ") and "stack:" in line for line in lines)
    assert any(line.startswith('<6>127.0.0.1 - - [') and "journal-check" in line for line in lines), lines
    # without the variable (or with another file's) the classic form
    monkeypatch.setenv("JOURNAL_STREAM", f"{st.st_dev}:{st.st_ino + 1}")
    t = gatewayd(workers=1)  # (the same log file: its own lines are those with its pid)
    own = [line for line in t.log().splitlines() if f"[master {t.pid}]" in line]
    assert own and not any(line.startswith("<") for line in own), own
