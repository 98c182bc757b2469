"""Issue 8, end to end: PEP 3333 apps served by gatewayd's WSGI loader
(build/apps/wsgi.so, Sources/WSGILoader/).

The apps are in wsgi_apps/ (passed with app_args pythonpath). Most requests go
to `validated:application`, wrapped in wsgiref.validate.validator with its
warnings made errors: a PEP 3333 violation raises inside the app, so every
test checks the status it expects *and* that neither "AssertionError" nor
"WSGIWarning" reached gatewayd's log. Flask and a single-file Django project
are served end to end; they are pip-installed for the embedded interpreter
when missing.

Privileges: when the tests run as root, gatewayd workers drop to nobody. The
Python install may not be readable by nobody (pyenv under /root, mode 0700,
on the CI machines), and the embedded interpreter must read its standard
library and site-packages, so in that case the workers keep root
(allow_root = true); otherwise they run as nobody as in production. Whatever
the app writes goes to a 0777 directory (`shared`).
"""
import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
import time

import pytest

from conftest import APPS, ROOT, Client, free_port, read_all, read_response, readable_by_others

HERE = os.path.dirname(os.path.abspath(__file__))
WSGI_APPS = os.path.join(HERE, "wsgi_apps")
# Another build can be tested with GATEWAYD_WSGI_SO=/path/wsgi.so and
# GATEWAYD_WSGI_PYTHON=/path/python3 (the interpreter it was built against).
WSGI_SO = os.environ.get("GATEWAYD_WSGI_SO") or os.path.join(APPS, "wsgi.so")
STAMP = os.path.join(ROOT, "build", "wsgi.python")   # written by the Makefile


def embedded_python():
    """The interpreter wsgi.so was built against (the Makefile records it)."""
    if os.environ.get("GATEWAYD_WSGI_PYTHON"):
        return os.environ["GATEWAYD_WSGI_PYTHON"]
    try:
        with open(STAMP) as f:
            exe = f.read().split()[0]
        if os.access(exe, os.X_OK):
            return exe
    except (OSError, IndexError):
        pass
    return sys.executable


PYTHON = embedded_python()


def python_dirs():
    out = subprocess.run([PYTHON, "-c", "import sys, sysconfig; print(sys.base_prefix); "
                          "print(sysconfig.get_paths()['purelib'])"],
                         capture_output=True, text=True, check=True).stdout.split("\n")
    return [x for x in out if x]


# Root workers only when nobody could not run the Python install (see above).
WORKERS_AS_ROOT = os.geteuid() == 0 and not (
    all(readable_by_others(d) for d in python_dirs() + [WSGI_APPS]))


@pytest.fixture(scope="session")
def frameworks():
    """Flask and Django for the embedded interpreter: installed if missing.
    Returns extra sys.path entries (a --target dir when the interpreter's
    own site-packages cannot be written, e.g. Debian's python, PEP 668)."""
    target = os.path.join(ROOT, "build", "wsgi-test-packages")

    def importable(extra=None):
        env = dict(os.environ, PYTHONPATH=extra) if extra else None
        return subprocess.run([PYTHON, "-c", "import flask, django"], env=env,
                              capture_output=True).returncode == 0

    if importable():
        return []
    if os.path.isdir(target) and importable(target):
        return [target]
    r = subprocess.run([PYTHON, "-m", "pip", "install", "-q", "flask", "django"],
                       capture_output=True, text=True)
    if r.returncode == 0 and importable():
        return []
    r = subprocess.run([PYTHON, "-m", "pip", "install", "-q", "--upgrade", "--target", target,
                        "flask", "django"], capture_output=True, text=True)
    assert r.returncode == 0 and importable(target), "cannot install flask and django: " + r.stderr
    return [target]


@pytest.fixture(autouse=True)
def _no_bytecode(monkeypatch):
    # the embedded Python (as root) would write __pycache__ into the source tree
    monkeypatch.setenv("PYTHONDONTWRITEBYTECODE", "1")


@pytest.fixture
def shared(workdir):
    """A directory the app (maybe running as nobody) can write to."""
    d = os.path.join(workdir, "shared")
    os.mkdir(d)
    os.chmod(d, 0o777)
    return d


@pytest.fixture
def wsgi(gatewayd):
    """wsgi(app="module:callable", pythonpath=[...], **settings) -> Server."""
    assert os.path.exists(WSGI_SO), f"{WSGI_SO} is not built: make build/apps/wsgi.so"

    def start(app="validated:application", pythonpath=(), app_args=None, **settings):
        args = {"app": app, "pythonpath": [WSGI_APPS, *pythonpath]}
        args.update(app_args or {})
        if WORKERS_AS_ROOT:
            settings.setdefault("allow_root", True)
        return gatewayd(app=WSGI_SO, app_args=args, **settings)

    return start


def assert_clean(s):
    """No PEP 3333 violation (the validator raises AssertionError or warns
    WSGIWarning inside the app) and no unexpected exception."""
    log = s.log()
    for bad in ("AssertionError", "WSGIWarning", "Traceback", "Exception ignored"):
        assert bad not in log, f"{bad} in the log:\n{log}"


def raw_request(port, raw, timeout=5):
    """Sends raw bytes on a new connection; returns (response bytes, closed)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(raw)
        return read_all(sock, timeout)


def make_file(shared, name, size):
    path = os.path.join(shared, name)
    data = os.urandom(size)
    with open(path, "wb") as f:
        f.write(data)
    os.chmod(path, 0o644)
    return path, data


# --------------------------------------------------------------- the environ

def test_environ_has_every_wsgi_key(wsgi):
    s = wsgi()
    with Client(s.port) as c:
        r = c.request(path="/environ?a=1&b=%2F", headers={"X-Custom": "v1", "Content-Type": "text/x"},
                      method="POST", body=b"xyz")
        assert r.status == 200, r.body
        env = json.loads(r.body)
    t = env["types"]
    assert t["wsgi.version"] == "(1, 0)"
    assert (t["wsgi.multithread"], t["wsgi.multiprocess"], t["wsgi.run_once"]) == (False, True, False)
    assert t["input_methods"] == ["read", "readline", "readlines", "__iter__"]
    assert t["errors_methods"] == ["write", "writelines", "flush"]
    assert env["wsgi.url_scheme"] == "http"
    assert "wsgi.file_wrapper" in env and "wsgi.input" in env and "wsgi.errors" in env
    assert env["REQUEST_METHOD"] == "POST"
    assert env["SCRIPT_NAME"] == "" and env["PATH_INFO"] == "/environ"
    assert env["QUERY_STRING"] == "a=1&b=%2F"
    assert env["SERVER_NAME"] == "test" and env["SERVER_PORT"] == "80"
    assert env["SERVER_PROTOCOL"] == "HTTP/1.1"
    assert env["CONTENT_TYPE"] == "text/x" and env["CONTENT_LENGTH"] == "3"
    assert env["HTTP_X_CUSTOM"] == "v1" and env["HTTP_HOST"] == "test"
    assert "HTTP_CONTENT_TYPE" not in env and "HTTP_CONTENT_LENGTH" not in env
    assert env["REMOTE_ADDR"] == "127.0.0.1"
    assert_clean(s)


def test_environ_is_fresh_for_each_request(wsgi):
    s = wsgi(workers=1)
    with Client(s.port) as c:
        a = json.loads(c.request(path="/environ", headers={"X-One": "1"}).body)
        b = json.loads(c.request(path="/environ?q=2", headers={"X-Two": "2"}).body)
    assert "HTTP_X_ONE" in a and "HTTP_X_ONE" not in b
    assert b["HTTP_X_TWO"] == "2" and b["QUERY_STRING"] == "q=2" and a["QUERY_STRING"] == ""
    assert_clean(s)


def test_latin1_native_strings_round_trip(wsgi):
    s = wsgi()
    raw = (b"GET /latin1 HTTP/1.1\r\nHost: x\r\nX-Latin: caf\xe9 \xff!\r\n"
           b"Connection: close\r\n\r\n")
    out = raw_request(s.port, raw)
    head, _, body = out.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200")
    # the header went back as the same bytes: str <-> latin-1, both ways
    assert b"\r\nX-Echo: caf\xe9 \xff!" in head
    if b"chunked" in head:
        body = body.split(b"\r\n", 1)[1].rsplit(b"\r\n0\r\n", 1)[0]
    got = json.loads(body)
    assert got["codepoints"] == [99, 97, 102, 0xE9, 32, 0xFF, 33]
    assert got["value"] == "caf\u00e9 \u00ff!"
    assert_clean(s)


# ------------------------------------------------------------ request bodies

def test_get_and_head(wsgi):
    s = wsgi()
    with Client(s.port) as c:
        r = c.request(path="/hello")
        assert (r.status, r.body) == (200, b"Hello, World!")
        r = c.request(method="HEAD", path="/head-length")
        assert r.status == 200 and r.header("content-length") == "1000" and r.body == b""
        r = c.request(method="HEAD", path="/hello")
        assert r.status == 200
        r = c.request(path="/head-length")   # the connection survived the HEADs
        assert r.body == b"x" * 1000
    assert_clean(s)


def test_post_with_content_length(wsgi):
    s = wsgi()
    body = os.urandom(100_000)
    with Client(s.port) as c:
        r = c.request("POST", "/echo", body=body)
        assert r.status == 200 and r.body == body
        r = c.request("POST", "/echo?size=7", body=b"small body, small reads")
        assert r.body == b"small body, small reads"
        r = c.request("POST", "/echo", body=b"")
        assert r.status == 200 and r.body == b""
    assert_clean(s)


def test_post_chunked(wsgi):
    s = wsgi()
    parts = [os.urandom(n) for n in (1, 1000, 70_000, 5)]
    raw = b"POST /digest HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
    raw += b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in parts) + b"0\r\n\r\n"
    with Client(s.port) as c:
        c.send(raw)
        r = c.read()
        assert r.status == 200, r.body
        got = json.loads(r.body)
        whole = b"".join(parts)
        assert got == {"length": len(whole), "sha256": hashlib.sha256(whole).hexdigest(),
                       "content_length": None}
        assert c.request(path="/hello").body == b"Hello, World!"
    assert_clean(s)


def test_five_megabyte_upload(wsgi):
    s = wsgi()
    body = os.urandom(5 * 1024 * 1024)
    with Client(s.port, timeout=30) as c:
        r = c.request("POST", "/digest", body=body)
        assert r.status == 200
        assert json.loads(r.body) == {"length": len(body), "sha256": hashlib.sha256(body).hexdigest(),
                                      "content_length": str(len(body))}
        r = c.request("POST", "/echo", body=body)   # read(65536) loop, echoed back
        assert r.body == body
    assert_clean(s)


def test_read_without_size_reads_the_whole_body(wsgi):
    s = wsgi(app="validated:raw")
    body = os.urandom(20 * 1024 * 1024 + 7)   # past the up-front allocation (16 MB)
    with Client(s.port, timeout=60) as c:
        for headers in ({}, {"Transfer-Encoding": "chunked"}):
            if headers:
                c.send(b"POST /readall HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                       + b"%x\r\n" % len(body) + body + b"\r\n0\r\n\r\n")
                r = c.read()
            else:
                r = c.request("POST", "/readall", body=body)
            assert r.status == 200
            assert json.loads(r.body) == {"length": len(body), "after_end": 0,
                                          "sha256": hashlib.sha256(body).hexdigest()}
    assert_clean(s)


@pytest.mark.parametrize("mode,expected", [
    ("readline", ["a\n", "bb\n", "ccc\n", "\n", "last"]),
    ("readline5", ["a\n", "bb\n", "ccc\n", "\n", "last"]),
    ("readlines", ["a\n", "bb\n", "ccc\n", "\n", "last"]),
    ("iter", ["a\n", "bb\n", "ccc\n", "\n", "last"]),
    ("mixed", ["a\n", "bb\nc", "cc\n", "\n", "last"]),
])
def test_input_readline_readlines_iteration(wsgi, mode, expected):
    s = wsgi()
    with Client(s.port) as c:
        r = c.request("POST", f"/lines?mode={mode}", body=b"a\nbb\nccc\n\nlast")
        assert r.status == 200, r.body
        assert json.loads(r.body) == expected
    assert_clean(s)


def test_readline_long_lines_and_size_limit(wsgi):
    s = wsgi()
    line = b"x" * 200_000 + b"\n"
    with Client(s.port) as c:
        r = c.request("POST", "/lines?mode=readline", body=line * 3)
        assert json.loads(r.body) == [line.decode()] * 3
        r = c.request("POST", "/lines?mode=readline5", body=b"abcdefghijkl\nmn")
        assert json.loads(r.body) == ["abcde", "fghij", "kl\n", "mn"]
    assert_clean(s)


def test_ignoring_the_body_leaves_the_connection_usable(wsgi):
    s = wsgi()
    with Client(s.port) as c:
        r = c.request("POST", "/ignore-body", body=os.urandom(300_000))
        assert (r.status, r.body) == (200, b"ignored")
        assert c.request(path="/hello").body == b"Hello, World!"
        c.send(b"POST /ignore-body HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
               b"5\r\nhello\r\n5\r\nworld\r\n0\r\n\r\n")
        assert c.read().body == b"ignored"
        r = c.request("POST", "/echo", body=b"second body")
        assert r.body == b"second body"
    assert_clean(s)


def test_input_never_reads_past_the_body(wsgi):
    """Pipelined requests: read() to the end of one body must not eat the next request."""
    s = wsgi()
    with Client(s.port) as c:
        c.send(b"POST /lines?mode=readlines HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nab\ncd"
               b"GET /hello HTTP/1.1\r\nHost: x\r\n\r\n"
               b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nxyz")
        assert json.loads(c.read().body) == ["ab\n", "cd"]
        assert c.read().body == b"Hello, World!"
        assert c.read().body == b"xyz"
    assert_clean(s)


def test_stale_wsgi_input_is_refused(wsgi):
    """An app that keeps the environ cannot read a later request's body through it."""
    s = wsgi(app="validated:raw", workers=1)
    with Client(s.port) as c:
        assert c.request("POST", "/keep-environ", body=b"one").body == b"first one"
        assert c.request("POST", "/keep-environ", body=b"two").body == b"stale read refused two"
        assert c.request("POST", "/keep-environ", body=b"three").body == b"stale read refused three"


# ---------------------------------------------------------------- responses

def test_list_responses_get_a_content_length(wsgi):
    """Unvalidated app returning lists: one write_last, so Content-Length, not chunked."""
    s = wsgi(app="validated:raw")
    with Client(s.port) as c:
        for path in ("/hello", "/parts"):
            r = c.request(path=path)
            assert r.body == b"Hello, World!"
            assert r.header("content-length") == "13" and r.header("transfer-encoding") is None
    assert_clean(s)


def test_generator_is_streamed_chunk_by_chunk(wsgi):
    s = wsgi()
    with socket.create_connection(("127.0.0.1", s.port), timeout=10) as sock:
        sock.sendall(b"GET /stream?n=3&delay=0.6&size=5 HTTP/1.1\r\nHost: x\r\n\r\n")
        data, times = b"", {}
        while b"\r\n0\r\n\r\n" not in data:
            b = sock.recv(65536)
            assert b, "connection closed early"
            data += b
            for marker in (b"00000", b"11111", b"22222"):
                if marker in data and marker not in times:
                    times[marker] = time.time()
    head, _, body = data.partition(b"\r\n\r\n")
    assert b"Transfer-Encoding: chunked" in head
    assert body == b"5\r\n00000\r\n5\r\n11111\r\n5\r\n22222\r\n0\r\n\r\n"
    # each chunk went out when it was produced, not at the end
    assert times[b"11111"] - times[b"00000"] > 0.4
    assert times[b"22222"] - times[b"11111"] > 0.4
    assert_clean(s)


def test_write_callable(wsgi):
    s = wsgi()
    with Client(s.port) as c:
        r = c.request(path="/write")
        assert (r.status, r.body) == (200, b"one,two,three")
    assert_clean(s)


def test_file_wrapper_through_the_validator(wsgi, shared):
    """Wrapped by the validator, the file_wrapper is iterated (read(blksize))."""
    path, data = make_file(shared, "data.bin", 300_000)
    s = wsgi()
    with Client(s.port) as c:
        assert c.request(path=f"/file?path={path}").body == data
        assert c.request(path=f"/file?path={path}&skip=100").body == data[100:]
        r = c.request(path=f"/file?path={path}&length=1000")
        assert r.header("content-length") == "1000"
    assert_clean(s)


def test_file_wrapper_is_served_with_sendfile(wsgi, shared):
    """Returned as is, a file_wrapper over a real file goes out with
    sendfile(2): the file's read() (which raises) is never called, and
    close() is."""
    path, data = make_file(shared, "data.bin", 1_000_000)
    log = os.path.join(shared, "sendfile.log")
    s = wsgi(app="validated:raw")
    with Client(s.port) as c:
        r = c.request(path=f"/sendfile?path={path}&log={log}")
        assert r.status == 200 and r.body == data
        assert r.header("transfer-encoding") == "chunked"
        r = c.request(path=f"/sendfile?path={path}&log={log}&length={len(data)}")
        assert r.body == data and r.header("content-length") == str(len(data))
        # Content-Length honoured: only that many bytes of the file
        r = c.request(path=f"/sendfile?path={path}&log={log}&length=1000")
        assert r.body == data[:1000] and r.header("content-length") == "1000"
        # a HEAD gets the headers only
        r = c.request("HEAD", f"/sendfile?path={path}&log={log}&length={len(data)}")
        assert r.status == 200 and r.body == b""
        # the start is the file's position (Python's buffered one)
        r = c.request(path=f"/file?path={path}&skip=12345")
        assert r.body == data[12345:]
        assert c.request(path="/hello").body == b"Hello, World!"
    with open(log) as f:
        assert f.read() == "closed\n" * 4
    assert "read() called" not in s.log()
    assert_clean(s)


def test_file_wrapper_without_fileno_is_iterated(wsgi):
    s = wsgi(app="validated:raw")
    with Client(s.port) as c:
        assert c.request(path="/bytesio").body == b"0123456789" * 1000
    assert_clean(s)


def test_hop_by_hop_headers_are_dropped(wsgi):
    s = wsgi(app="validated:raw")
    with Client(s.port) as c:
        r = c.request(path="/hop")
        assert (r.status, r.body) == (200, b"hop")
        assert r.header("x-kept") == "1" and r.header("keep-alive") is None
        assert r.header("connection") is None
        assert r.header("status") is None   # the server owns the status (a second CGI Status line otherwise)
        assert c.request(path="/hello").status == 200   # still kept alive
    assert_clean(s)


def test_exc_info_before_headers_replaces_the_response(wsgi):
    s = wsgi()
    with Client(s.port) as c:
        r = c.request(path="/exc-before")
        assert (r.status, r.body) == (503, b"replaced")
        assert r.header("x-replaced") == "yes"
        assert c.request(path="/hello").status == 200
    assert_clean(s)


def test_exc_info_after_headers_aborts_the_connection(wsgi):
    s = wsgi()
    with socket.create_connection(("127.0.0.1", s.port), timeout=10) as sock:
        sock.sendall(b"GET /exc-after HTTP/1.1\r\nHost: x\r\n\r\n")
        out = read_all(sock, 5)   # until the server closes
    head, _, body = out.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200")
    assert b"partial" in body
    assert not body.endswith(b"0\r\n\r\n"), "an aborted response must not look complete"
    assert b"never sent" not in body
    s.wait_log("late failure after the headers")
    log = s.log()
    assert "ValueError: late failure after the headers" in log and "Traceback" in log
    assert "AssertionError" not in log and "WSGIWarning" not in log


def test_app_exception_gives_500_and_a_traceback(wsgi):
    s = wsgi()
    with Client(s.port) as c:
        r = c.request(path="/error?tag=xyzzy")
        assert r.status == 500
    with Client(s.port) as c:   # (gatewayd closes a connection after an app error's 500)
        assert c.request(path="/hello").status == 200
    s.wait_log("boom from the app xyzzy")
    log = s.log()
    assert "Traceback (most recent call last)" in log
    assert "RuntimeError: boom from the app xyzzy" in log
    assert "validated.py" in log and "GET /error" in log
    assert "AssertionError" not in log


def test_a_traceback_in_the_text_log_is_one_line_per_line(wsgi):
    """Each line of the traceback its own log line, under the same prefix and
    marked as a continuation ("| "), so journald and docker logs read it;
    nothing the app writes can start an event of its own."""
    s = wsgi()
    with Client(s.port) as c:
        assert c.request(path="/error?tag=lines").status == 500
    s.wait_log("boom from the app lines")
    lines = s.log().splitlines()
    assert not [l for l in lines if "\\x0A" in l], s.log()
    tb = [i for i, l in enumerate(lines) if l.endswith("] | Traceback (most recent call last):")]
    assert tb, s.log()
    first = lines[tb[0] - 1]
    assert "GET /error" in first and "[error] [worker " in first, first
    prefix = first[first.index("[error]"):first.index("] ", first.index("[worker ")) + 2]
    rest = lines[tb[0]:]
    end = next(i for i, l in enumerate(rest) if "RuntimeError: boom from the app lines" in l)
    for l in rest[:end + 1]:
        assert prefix + "| " in l, (prefix, l)
    assert any((prefix + '|   File "') in l and 'validated.py", line ' in l for l in rest[:end]), rest[:end]


def test_a_traceback_in_the_json_log_is_one_record(wsgi):
    s = wsgi(log_format="json")
    with Client(s.port) as c:
        assert c.request(path="/error?tag=json").status == 500
    s.wait_log("boom from the app json")
    records = [json.loads(l) for l in s.log().splitlines() if l.startswith("{")]
    tb = [r for r in records if "Traceback (most recent call last):" in r["message"]]
    assert len(tb) == 1, records
    assert "GET /error" in tb[0]["message"] and "\nRuntimeError: boom from the app json" in tb[0]["message"]
    assert not any(r["message"].startswith("| ") for r in records)


@pytest.mark.parametrize("query,status,body", [
    ("", 200, b"abc"),              # normal end
    ("&fail=1", None, b"abc"),      # fails after the body started: aborted
    ("&fail=1&empty=1", 500, b""),  # fails before any body byte: a 500
])
def test_close_is_always_called(wsgi, shared, query, status, body):
    log = os.path.join(shared, "close.log")
    s = wsgi()
    with socket.create_connection(("127.0.0.1", s.port), timeout=10) as sock:
        sock.sendall(f"GET /close?log={log}{query} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        if status is None:
            out = read_all(sock, 5)
            head, _, rest = out.partition(b"\r\n\r\n")
            assert head.startswith(b"HTTP/1.1 200")
            assert b"a" in rest and not rest.endswith(b"0\r\n\r\n")   # aborted
        else:
            r = read_response(sock.makefile("rb"))
            assert r.status == status
            if status == 200:
                assert r.body == body
    deadline = time.time() + 5
    while time.time() < deadline and not os.path.exists(log):
        time.sleep(0.05)
    with open(log) as fh:
        assert fh.read() == "close\n"
    if "fail" in query:
        s.wait_log("iteration failed on purpose")
        assert "AssertionError" not in s.log()
    else:
        assert_clean(s)


def test_wsgi_errors_goes_to_the_error_log(wsgi):
    s = wsgi()
    with Client(s.port) as c:
        assert c.request(path="/errors").body == b"logged"
    s.wait_log("errors-stream-marker unterminated")
    log = s.log()
    assert "errors-stream-marker line one" in log
    assert "errors-stream-marker line two" in log
    assert_clean(s)


def test_many_requests_on_one_worker(wsgi):
    """Objects reused from request to request: no leak of state, no crash."""
    s = wsgi(workers=1)
    with Client(s.port) as c:
        pids = set()
        for i in range(300):
            r = c.request("POST", "/echo", body=b"%d" % i)
            assert r.body == b"%d" % i
            pids.add(c.request(path="/pid").body)
        assert len(pids) == 1
    assert_clean(s)


def test_background_threads_run_between_requests(wsgi):
    s = wsgi(app="threads_app:application", workers=1)
    with Client(s.port) as c:
        first = int(c.request().body)
        time.sleep(0.6)   # idle: the worker waits in the server, without the GIL
        second = int(c.request().body)
    assert second - first >= 20, (first, second)


# -------------------------------------------------------- boot and app_args

def test_import_error_is_a_boot_failure_with_the_traceback(wsgi):
    s = wsgi(app="broken_import:application", start=False)
    t = time.time()
    s.start(wait=False)
    assert s.wait_exit(timeout=20) == 3   # SIGNALS.md: the app could not boot
    assert time.time() - t < 15
    log = s.log()
    assert "Traceback (most recent call last)" in log
    assert "ModuleNotFoundError" in log and "gatewayd_test_module_that_does_not_exist" in log
    assert "broken_import.py" in log


def test_import_error_abandons_a_reload(wsgi):
    s = wsgi()
    s.write_config(app_args={"app": "broken_import:application", "pythonpath": WSGI_APPS})
    s.signal(signal.SIGHUP)
    s.wait_log("abandoned", timeout=20)
    assert "gatewayd_test_module_that_does_not_exist" in s.log()
    assert s.proc.poll() is None
    with Client(s.port) as c:
        assert c.request(path="/hello").body == b"Hello, World!"


@pytest.mark.parametrize("args,message", [
    ({"app": "validated:nonexistent"}, "has no attribute nonexistent"),
    ({"app": "validated:TEXT"}, "is not callable"),
    ({"app": "validated:application", "colour": "blue"}, 'unknown app_args key "colour"'),
    ({"app": ""}, "needs app"),
    ({"app": "validated:application", "chdir": "/nonexistent-dir"}, "/nonexistent-dir"),
])
def test_bad_app_args_are_boot_failures(wsgi, args, message):
    s = wsgi(app_args=args, start=False)
    s.start(wait=False)
    assert s.wait_exit(timeout=20) != 0
    assert message in s.log()


def test_factory_and_dotted_callables(wsgi):
    s = wsgi(app="factory_app:create_app()", workers=1)
    with Client(s.port) as c:
        assert c.request().body == b"factory calls: 1"
        assert c.request().body == b"factory calls: 1"
    s.stop()
    s = wsgi(app="factory_app:Holder.Inner.app")
    with Client(s.port) as c:
        assert c.request().body == b"dotted"
    s.stop()
    s = wsgi(app="minimal")   # module alone: module:application
    with Client(s.port) as c:
        assert c.request().body == b"Hello, World!"


def test_graceful_stop_finalises_python(wsgi, shared, monkeypatch):
    """atexit handlers run when a worker stops gracefully (Py_FinalizeEx)."""
    path = os.path.join(shared, "atexit.log")
    monkeypatch.setenv("GATEWAYD_TEST_ATEXIT", path)
    s = wsgi(app="atexit_app:application", workers=2)
    pids = set(s.workers())
    s.signal(signal.SIGTERM)
    assert s.wait_exit() == 0
    with open(path) as f:
        assert {int(line.split()[1]) for line in f} == pids


def test_virtualenv_and_chdir(wsgi, workdir, shared):
    venv = os.path.join(workdir, "venv")
    subprocess.run([PYTHON, "-m", "venv", "--without-pip", venv], check=True)
    site = subprocess.run([os.path.join(venv, "bin", "python"), "-c",
                           "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          capture_output=True, text=True, check=True).stdout.strip()
    with open(os.path.join(site, "gatewayd_venv_marker.py"), "w") as f:
        f.write("VALUE = 'from the venv'\n")
    for root, dirs, files in os.walk(venv):
        for d in dirs:
            os.chmod(os.path.join(root, d), 0o755)
    s = wsgi(app="venv_app:application", app_args={"virtualenv": venv, "chdir": shared})
    with Client(s.port) as c:
        r = c.request()
        assert r.status == 200, s.log()
        got = json.loads(r.body)
    assert got["marker"] == "from the venv"
    assert os.path.realpath(got["prefix"]) == os.path.realpath(venv)
    assert got["cwd"] == shared
    assert got["path"][0] == WSGI_APPS and shared in got["path"]
    assert_clean(s)


# ------------------------------------------------------- real frameworks

def multipart(fields, files):
    boundary = "----gatewayd" + os.urandom(8).hex()
    out = b""
    for name, value in fields:
        out += (f"--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n"
                f"{value}\r\n").encode()
    for name, filename, data in files:
        out += (f"--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"; "
                f"filename=\"{filename}\"\r\nContent-Type: application/octet-stream\r\n\r\n").encode()
        out += data + b"\r\n"
    out += f"--{boundary}--\r\n".encode()
    return out, f"multipart/form-data; boundary={boundary}"


def test_flask_app(wsgi, frameworks, shared):
    s = wsgi(app="flask_app:app", pythonpath=frameworks)
    with Client(s.port, timeout=30) as c:
        r = c.request(path="/")
        assert r.status == 200 and b"Hello from Flask" in r.body
        assert r.header("content-type").startswith("text/html")
        r = c.request(path="/user/ren%C3%A9?q=x%20y")
        assert r.status == 200 and json.loads(r.body) == {"name": "ren\u00e9", "q": "x y"}

        # JSON in, JSON out
        r = c.request("POST", "/json", headers={"Content-Type": "application/json"},
                      body=json.dumps({"numbers": [1, 2, 3], "s": "\u00e9t\u00e9"}).encode())
        assert r.status == 200
        assert json.loads(r.body) == {"received": {"numbers": [1, 2, 3], "s": "\u00e9t\u00e9"},
                                      "doubled": [2, 4, 6]}

        # a form
        assert c.request(path="/form").status == 200
        r = c.request("POST", "/form", headers={"Content-Type": "application/x-www-form-urlencoded"},
                      body=b"first=Ada&last=Lovelace&tag=a&tag=b")
        assert json.loads(r.body) == {"first": "Ada", "last": "Lovelace", "tags": ["a", "b"]}

        # cookies: set, then sent back
        r = c.request(path="/cookie/set?v=vanilla")
        cookies = [v for k, v in r.headers if k == "set-cookie"]
        assert any(x.startswith("flavour=vanilla") for x in cookies)
        assert any(x.startswith("other=1") and "HttpOnly" in x for x in cookies)
        r = c.request(path="/cookie/get", headers={"Cookie": "flavour=vanilla; other=1"})
        assert json.loads(r.body) == {"flavour": "vanilla", "other": "1"}

        # a multipart upload (2 MB)
        data = os.urandom(2 * 1024 * 1024)
        body, ctype = multipart([("note", "hi")], [("file", "blob.bin", data)])
        r = c.request("POST", "/upload", headers={"Content-Type": ctype}, body=body)
        assert r.status == 200, r.body[:500]
        assert json.loads(r.body) == {"filename": "blob.bin", "size": len(data),
                                      "sha256": hashlib.sha256(data).hexdigest(), "note": "hi"}

        # a chunked request body (wsgi.input_terminated)
        c.send(b"POST /raw HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
               b"3\r\nabc\r\n4\r\ndefg\r\n0\r\n\r\n")
        r = c.read()
        assert json.loads(r.body) == {"size": 7, "sha256": hashlib.sha256(b"abcdefg").hexdigest()}

        # streaming, send_file (file_wrapper -> sendfile)
        r = c.request(path="/stream")
        assert r.body == b"".join(b"line %d\n" % i for i in range(5))
        path, fdata = make_file(shared, "flask.bin", 500_000)
        r = c.request(path=f"/download?path={path}")
        assert r.status == 200 and r.body == fdata
        assert r.header("content-length") == str(len(fdata))

        # error pages
        r = c.request(path="/nope")
        assert r.status == 404 and b"Not Found" in r.body
        r = c.request(path="/boom")
        assert r.status == 500 and b"Internal Server Error" in r.body
        assert c.request(path="/").status == 200
    # Flask logged the exception through wsgi.errors
    s.wait_log("flask view exploded")
    assert "Traceback" in s.log()


def test_django_app(wsgi, frameworks, shared):
    s = wsgi(app="django_app:application", pythonpath=frameworks)
    with Client(s.port, timeout=30) as c:
        r = c.request(path="/")
        assert r.status == 200 and b"Hello from Django" in r.body

        # a form: valid, then invalid
        r = c.request("POST", "/contact/", headers={"Content-Type": "application/x-www-form-urlencoded"},
                      body=b"name=Grace&age=85")
        assert r.status == 200, r.body[:500]
        assert json.loads(r.body) == {"ok": True, "data": {"name": "Grace", "age": 85}}
        r = c.request("POST", "/contact/", headers={"Content-Type": "application/x-www-form-urlencoded"},
                      body=b"name=Grace&age=old")
        assert r.status == 400 and "age" in json.loads(r.body)["errors"]

        # JSON
        r = c.request("POST", "/api/", headers={"Content-Type": "application/json"},
                      body=json.dumps({"numbers": [1, 2, 39]}).encode())
        assert json.loads(r.body) == {"sum": 42, "method": "POST", "content_type": "application/json"}
        assert c.request(path="/api/").status == 405

        # cookies
        r = c.request(path="/cookie/set/?v=light")
        assert any(v.startswith("theme=light") for k, v in r.headers if k == "set-cookie")
        r = c.request(path="/cookie/get/", headers={"Cookie": "theme=light"})
        assert json.loads(r.body) == {"theme": "light"}

        # an upload, bigger than FILE_UPLOAD_MAX_MEMORY_SIZE (a temporary file)
        data = os.urandom(3 * 1024 * 1024)
        body, ctype = multipart([("title", "a file")], [("file", "upload.bin", data)])
        r = c.request("POST", "/upload/", headers={"Content-Type": ctype}, body=body)
        assert r.status == 200, r.body[:500]
        assert json.loads(r.body) == {"name": "upload.bin", "size": len(data),
                                      "sha256": hashlib.sha256(data).hexdigest(), "title": "a file"}

        # FileResponse (file_wrapper -> sendfile) and a streaming response
        path, fdata = make_file(shared, "django.bin", 400_000)
        r = c.request(path=f"/download/?path={path}")
        assert r.status == 200 and r.body == fdata
        r = c.request(path="/stream/")
        assert r.body == b"".join(b"part %d\n" % i for i in range(4))

        # error pages, DEBUG off
        r = c.request(path="/missing/")
        assert r.status == 404 and b"Not Found" in r.body
        r = c.request(path="/boom/")
        assert r.status == 500 and b"Server Error (500)" in r.body
        assert c.request(path="/").status == 200
    # Django logs the exception with the logging module: stderr, gatewayd's log
    s.wait_log("django view exploded")
    assert "AssertionError" not in s.log()


def test_a_close_that_raises_after_the_whole_body_keeps_the_response(wsgi, shared):
    """The body was sent whole: the response stands and the exception is logged."""
    log = os.path.join(shared, "close.log")
    s = wsgi(app="validated:raw", workers=1)
    with Client(s.port) as c:
        r = c.request(path=f"/close?log={log}&close_raises=1")
        assert (r.status, r.body) == (200, b"abc")
        # the connection stays usable: the response was complete
        assert c.request(path="/hello").body == b"Hello, World!"
    assert "close() failed on purpose" in s.log()
    assert "connection aborted" not in s.log()


def test_an_iterable_past_its_content_length_is_cut_there(wsgi):
    """PEP 3333: the server sends no more than Content-Length and stops iterating."""
    s = wsgi(app="validated:raw", workers=1)
    with Client(s.port) as c:
        r = c.request(path="/over-length")
        assert (r.status, r.header("content-length"), r.body) == (200, "5", b"01234")
        assert c.request(path="/hello").body == b"Hello, World!"
