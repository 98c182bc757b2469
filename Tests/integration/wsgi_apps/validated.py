"""PEP 3333 test apps for gatewayd's WSGI loader (Tests/integration/test_wsgi.py).

`application` is wrapped in wsgiref.validate.validator, Python's own PEP 3333
checker, with its warnings turned into errors: any violation, by the server
or by the app, raises inside the app, so the request fails (500 or an
aborted response) and "AssertionError"/"WSGIWarning" lands in gatewayd's log.
`raw` is the same router without the validator (for the fast paths the
validator's wrappers hide: a returned list, a returned file_wrapper).

Routes: PATH_INFO; parameters: QUERY_STRING.
"""
import hashlib
import json
import os
import sys
import time
import warnings
from urllib.parse import parse_qs
from wsgiref.validate import WSGIWarning, validator

warnings.simplefilter("error", WSGIWarning)

TEXT = [("Content-Type", "text/plain")]


def params(environ):
    return {k: v[0] for k, v in parse_qs(environ.get("QUERY_STRING", "")).items()}


def read_body(environ, size=65536):
    """Reads wsgi.input to its end with read(size) (the validator wants an argument)."""
    stream = environ["wsgi.input"]
    parts = []
    while True:
        chunk = stream.read(size)
        if not chunk:
            break
        parts.append(chunk)
    return b"".join(parts)


def hello(environ, start_response):
    start_response("200 OK", TEXT)
    return [b"Hello, World!"]


def hello_parts(environ, start_response):
    start_response("200 OK", TEXT)
    return [b"Hello", b", ", b"World!"]


def echo(environ, start_response):
    body = read_body(environ, int(params(environ).get("size", "65536")))
    headers = [("Content-Type", "application/octet-stream"), ("Content-Length", str(len(body)))]
    start_response("200 OK", headers)
    return [body]


def digest(environ, start_response):
    """Reads the body in odd-sized pieces; answers its length and sha256."""
    h = hashlib.sha256()
    n = 0
    stream = environ["wsgi.input"]
    while True:
        chunk = stream.read(12345)
        if not chunk:
            break
        h.update(chunk)
        n += len(chunk)
    out = json.dumps({"length": n, "sha256": h.hexdigest(),
                      "content_length": environ.get("CONTENT_LENGTH")}).encode()
    start_response("200 OK", [("Content-Type", "application/json")])
    return [out]


def lines(environ, start_response):
    """readline, readline(size), readlines and iteration over wsgi.input."""
    stream = environ["wsgi.input"]
    mode = params(environ).get("mode", "readline")
    if mode == "readline":
        result = []
        while True:
            line = stream.readline()
            if not line:
                break
            result.append(line)
    elif mode == "readline5":
        result = []
        while True:
            line = stream.readline(5)
            if not line:
                break
            result.append(line)
    elif mode == "readlines":
        result = stream.readlines()
    elif mode == "iter":
        result = list(stream)
    elif mode == "mixed":
        first = stream.readline()
        rest = stream.read(4)
        result = [first, rest] + stream.readlines()
    else:
        raise ValueError(mode)
    out = json.dumps([x.decode("latin-1") for x in result]).encode()
    start_response("200 OK", [("Content-Type", "application/json")])
    return [out]


def stream(environ, start_response):
    p = params(environ)
    n, delay, size = int(p.get("n", "3")), float(p.get("delay", "0")), int(p.get("size", "5"))
    start_response("200 OK", TEXT)

    def gen():
        for i in range(n):
            if i and delay:
                time.sleep(delay)
            yield (b"%d" % i) * size

    return gen()


def file(environ, start_response):
    p = params(environ)
    f = open(p["path"], "rb")
    if "skip" in p:
        f.read(int(p["skip"]))     # the response starts at the file's position
    headers = [("Content-Type", "application/octet-stream")]
    if "length" in p:
        headers.append(("Content-Length", p["length"]))
    start_response("200 OK", headers)
    return environ["wsgi.file_wrapper"](f, 4096)


class NoReadFile:
    """A file whose read() fails: only sendfile(2) can serve it."""

    def __init__(self, path, log):
        self.f = open(path, "rb")
        self.log = log

    def read(self, *a):
        raise RuntimeError("read() called: sendfile was not used")

    def fileno(self):
        return self.f.fileno()

    def tell(self):
        return self.f.tell()

    def close(self):
        self.f.close()
        with open(self.log, "a") as f:
            f.write("closed\n")


def sendfile(environ, start_response):
    p = params(environ)
    wrapper = environ["wsgi.file_wrapper"](NoReadFile(p["path"], p["log"]))
    headers = [("Content-Type", "application/octet-stream")]
    if "length" in p:
        headers.append(("Content-Length", p["length"]))
    start_response("200 OK", headers)
    return wrapper


def exc_before(environ, start_response):
    start_response("200 OK", TEXT)
    try:
        raise ValueError("failed before the first body byte")
    except ValueError:
        start_response("503 Service Unavailable", [("Content-Type", "text/plain"),
                                                   ("X-Replaced", "yes")], sys.exc_info())
    return [b"replaced"]


def exc_after(environ, start_response):
    start_response("200 OK", TEXT)

    def gen():
        yield b"partial"
        try:
            raise ValueError("late failure after the headers")
        except ValueError:
            # PEP 3333: headers are out, so start_response re-raises.
            start_response("500 Internal Server Error", TEXT, sys.exc_info())
        yield b"never sent"

    return gen()


def write_callable(environ, start_response):
    write = start_response("200 OK", TEXT)
    write(b"one,")
    write(b"two,")
    return [b"three"]


class Recorder:
    """An iterable whose close() records that it was called."""

    def __init__(self, path, chunks, fail=False):
        self.path, self.chunks, self.fail = path, chunks, fail

    def __iter__(self):
        for c in self.chunks:
            yield c
        if self.fail:
            raise RuntimeError("iteration failed on purpose")

    def close(self):
        with open(self.path, "a") as f:
            f.write("close\n")
        if self.raise_in_close:
            raise ValueError("close() failed on purpose")

    raise_in_close = False


def close(environ, start_response):
    p = params(environ)
    start_response("200 OK", TEXT)
    chunks = [] if p.get("empty") == "1" else [b"a", b"b", b"c"]
    r = Recorder(p["log"], chunks, fail=p.get("fail") == "1")
    r.raise_in_close = p.get("close_raises") == "1"
    return r


def over_length(environ, start_response):
    """Content-Length 5, an iterable of 10 bytes in two chunks: PEP 3333 cuts it at 5."""
    start_response("200 OK", TEXT + [("Content-Length", "5")])
    return iter([b"012", b"3456789"])


def error(environ, start_response):
    raise RuntimeError("boom from the app " + params(environ).get("tag", ""))


def latin1(environ, start_response):
    value = environ["HTTP_X_LATIN"]
    assert isinstance(value, str)
    body = json.dumps({"value": value, "codepoints": [ord(c) for c in value],
                       "path": environ["PATH_INFO"]}).encode()
    start_response("200 OK", [("Content-Type", "application/json"), ("X-Echo", value)])
    return [body]


def ignore_body(environ, start_response):
    start_response("200 OK", TEXT)
    return [b"ignored"]


def environ_route(environ, start_response):
    out = {}
    for k, v in environ.items():
        out[k] = v if isinstance(v, str) else repr(v)
    out["types"] = {
        "wsgi.version": repr(environ["wsgi.version"]),
        "wsgi.multithread": environ["wsgi.multithread"],
        "wsgi.multiprocess": environ["wsgi.multiprocess"],
        "wsgi.run_once": environ["wsgi.run_once"],
        "input_methods": [m for m in ("read", "readline", "readlines", "__iter__")
                          if hasattr(environ["wsgi.input"], m)],
        "errors_methods": [m for m in ("write", "writelines", "flush")
                           if hasattr(environ["wsgi.errors"], m)],
    }
    start_response("200 OK", [("Content-Type", "application/json")])
    return [json.dumps(out).encode()]


def errors(environ, start_response):
    err = environ["wsgi.errors"]
    err.write("errors-stream-marker line one\n")
    err.writelines(["errors-stream-marker ", "line two\n"])
    err.write("errors-stream-marker unterminated")
    err.flush()
    start_response("200 OK", TEXT)
    return [b"logged"]


def head_length(environ, start_response):
    body = b"x" * 1000
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]


def readall(environ, start_response):
    """read() without a size (the validator insists on one: raw app only)."""
    data = environ["wsgi.input"].read()
    more = environ["wsgi.input"].read()
    out = json.dumps({"length": len(data), "sha256": hashlib.sha256(data).hexdigest(),
                      "after_end": len(more)}).encode()
    start_response("200 OK", [("Content-Type", "application/json")])
    return [out]


def bytesio(environ, start_response):
    """file_wrapper over an object without fileno(): iterated with read(blksize)."""
    import io
    start_response("200 OK", TEXT)
    return environ["wsgi.file_wrapper"](io.BytesIO(b"0123456789" * 1000), 333)


def hop(environ, start_response):
    """Hop-by-hop headers, and a CGI-style Status header, are dropped (as
    Gunicorn drops the first), not an error."""
    start_response("200 OK", TEXT + [("Connection", "close"), ("Keep-Alive", "timeout=5"),
                                     ("Status", "302 Found"), ("X-Kept", "1")])
    return [b"hop"]


def pid(environ, start_response):
    start_response("200 OK", TEXT)
    return [str(os.getpid()).encode()]


def keep_environ(environ, start_response):
    """Keeps the environ (and wsgi.input) past the request; the next call
    checks that the old stream refuses to read the new request's body."""
    old = KEPT.get("environ")
    result = "first"
    if old is not None:
        try:
            old["wsgi.input"].read(1)
            result = "stale read allowed"
        except ValueError:
            result = "stale read refused"
    KEPT["environ"] = environ
    body = read_body(environ)
    start_response("200 OK", TEXT)
    return [result.encode() + b" " + body]


KEPT = {}

ROUTES = {
    "/": hello, "/hello": hello, "/parts": hello_parts, "/echo": echo, "/digest": digest,
    "/lines": lines, "/stream": stream, "/file": file, "/sendfile": sendfile,
    "/exc-before": exc_before, "/exc-after": exc_after, "/write": write_callable,
    "/close": close, "/error": error, "/latin1": latin1, "/ignore-body": ignore_body,
    "/environ": environ_route, "/errors": errors, "/head-length": head_length,
    "/pid": pid, "/keep-environ": keep_environ, "/bytesio": bytesio, "/hop": hop,
    "/readall": readall, "/over-length": over_length,
}


def raw(environ, start_response):
    route = ROUTES.get(environ["PATH_INFO"])
    if route is None:
        start_response("404 Not Found", TEXT)
        return [b"not found"]
    return route(environ, start_response)


application = validator(raw)
