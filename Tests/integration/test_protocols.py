"""uwsgi, SCGI and FastCGI listeners (bind prefixes `uwsgi:`, `scgi:`,
`fastcgi:`), driven by a real nginx with Debian's stock /etc/nginx/uwsgi_params,
scgi_params and fastcgi_params, over TCP and unix sockets (FastCGI also over
a pooled keep-alive upstream); by `cgi-fcgi` (libfcgi-bin), a second,
independent FastCGI client; and by hand-made packets and records for what
nginx never sends."""
import hashlib
import json
import os
import shutil
import socket
import struct
import subprocess
import threading
import time
import urllib.parse

import pytest

from conftest import GATEWAYD, free_port, read_all, wait_until

pytestmark = pytest.mark.skipif(not os.path.exists("/etc/nginx/uwsgi_params"), reason="nginx with its stock params files")


def start_nginx(workdir, servers):
    conf = os.path.join(workdir, "nginx.conf")
    with open(conf, "w") as f:
        f.write(f"""{"user root;" if os.geteuid() == 0 else ""}
daemon on; worker_processes 1; pid {workdir}/nginx.pid; error_log {workdir}/nginx.err;
events {{ worker_connections 256; }}
http {{
  access_log off; client_max_body_size 30m;
  client_body_temp_path {workdir}/body; proxy_temp_path {workdir}/proxy; fastcgi_temp_path {workdir}/fcgi;
  uwsgi_temp_path {workdir}/uwsgi; scgi_temp_path {workdir}/scgi;
  {servers}
}}
""")
    subprocess.run(["nginx", "-c", conf], check=True)
    return lambda: subprocess.run(["nginx", "-c", conf, "-s", "stop"], capture_output=True)


@pytest.fixture
def site(gatewayd, workdir):
    """gatewayd with an HTTP, a uwsgi and an SCGI listener each on TCP and
    unix, and one nginx server per protocol and transport: {name: port}."""
    http_port, uw, sc, fc, fk = free_port(), free_port(), free_port(), free_port(), free_port()
    usock, ssock = os.path.join(workdir, "uwsgi.sock"), os.path.join(workdir, "scgi.sock")
    fsock = os.path.join(workdir, "fcgi.sock")
    s = gatewayd(port=http_port, workers=2, timeout=2, unix_socket_mode="0666",
                 access_log=os.path.join(workdir, "access.log"),
                 bind=[f"127.0.0.1:{http_port}", f"uwsgi:127.0.0.1:{uw}", f"scgi:127.0.0.1:{sc}",
                       f"uwsgi:unix:{usock}", f"scgi:unix:{ssock}", f"fastcgi:127.0.0.1:{fc}",
                       f"fastcgi:127.0.0.1:{fk}", f"fastcgi:unix:{fsock}"])
    ports = {"http": free_port(), "uwsgi": free_port(), "scgi": free_port(), "uwsgi-unix": free_port(), "scgi-unix": free_port(),
             "fastcgi": free_port(), "fastcgi-keep": free_port(), "fastcgi-unix": free_port(), "fastcgi-unix-plain": free_port(),
             "http-11": free_port()}
    stop = start_nginx(workdir, f"""
  upstream fcgi_pool {{ server 127.0.0.1:{fk}; keepalive 4; }}
  upstream fcgi_unix_pool {{ server unix:{fsock}; keepalive 4; }}
  server {{ listen 127.0.0.1:{ports['fastcgi']}; location / {{ include /etc/nginx/fastcgi_params; fastcgi_pass 127.0.0.1:{fc}; }} }}
  server {{ listen 127.0.0.1:{ports['fastcgi-keep']}; location / {{ include /etc/nginx/fastcgi_params;
      fastcgi_pass fcgi_pool; fastcgi_keep_conn on; }} }}
  server {{ listen 127.0.0.1:{ports['fastcgi-unix']}; location / {{ include /etc/nginx/fastcgi_params;
      fastcgi_pass fcgi_unix_pool; fastcgi_keep_conn on; }} }}
  server {{ listen 127.0.0.1:{ports['fastcgi-unix-plain']}; location / {{ include /etc/nginx/fastcgi_params;
      fastcgi_pass unix:{fsock}; }} }}
  server {{ listen 127.0.0.1:{ports['http']}; location / {{ proxy_pass http://127.0.0.1:{http_port}; proxy_set_header Host $host; }} }}
  server {{ listen 127.0.0.1:{ports['http-11']}; location / {{ proxy_pass http://127.0.0.1:{http_port}; proxy_set_header Host $host;
      proxy_http_version 1.1; proxy_set_header Connection ""; }} }}
  server {{ listen 127.0.0.1:{ports['uwsgi']}; location / {{ include /etc/nginx/uwsgi_params; uwsgi_pass 127.0.0.1:{uw}; }} }}
  server {{ listen 127.0.0.1:{ports['scgi']}; location / {{ include /etc/nginx/scgi_params; scgi_pass 127.0.0.1:{sc}; }} }}
  server {{ listen 127.0.0.1:{ports['uwsgi-unix']}; location / {{ include /etc/nginx/uwsgi_params; uwsgi_pass unix:{usock}; }} }}
  server {{ listen 127.0.0.1:{ports['scgi-unix']}; location / {{ include /etc/nginx/scgi_params; scgi_pass unix:{ssock}; }} }}
""")
    time.sleep(0.3)
    yield s, ports, {"uwsgi": uw, "scgi": sc, "fastcgi": fc, "fastcgi-keep": fk, "fastcgi-unix": fsock, "uwsgi-unix": usock}
    stop()


def request(port, method, path, body=None, headers=None, timeout=30):
    """Raw HTTP/1.1 through nginx: (status, {header: value}, body)."""
    body = body or b""
    head = f"{method} {path} HTTP/1.1\r\nHost: site.test\r\nConnection: close\r\n"
    for k, v in (headers.items() if isinstance(headers, dict) else headers or []):
        head += f"{k}: {v}\r\n"
    if body or method == "POST":
        head += f"Content-Length: {len(body)}\r\n"
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(head.encode() + b"\r\n" + body)
        raw = read_all(s, timeout)
    top, _, rest = raw.partition(b"\r\n\r\n")
    lines = top.decode("latin-1").split("\r\n")
    hdrs = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        hdrs[k.strip().lower()] = v.strip()
    if hdrs.get("transfer-encoding") == "chunked":
        out, rest2 = b"", rest
        while True:
            size, _, rest2 = rest2.partition(b"\r\n")
            n = int(size.split(b";")[0], 16)
            if n == 0:
                break
            out += rest2[:n]
            rest2 = rest2[n + 2:]
        rest = out
    return int(lines[0].split()[1]), hdrs, rest


PROXIED = ["uwsgi", "scgi", "uwsgi-unix", "scgi-unix", "fastcgi", "fastcgi-keep", "fastcgi-unix"]


@pytest.mark.parametrize("via", PROXIED)
def test_environ_from_the_stock_params(site, via):
    _, ports, _ = site
    q = "name=" + urllib.parse.quote("Zoë & 漢字") + "&x=%2F%20"
    status, _, body = request(ports[via], "GET", "/environ/a%20b/caf%C3%A9?" + q, headers={"X-Custom": "yes"})
    assert status == 200, body
    env = json.loads(body)
    assert env["REQUEST_METHOD"] == "GET"
    assert env["QUERY_STRING"] == q
    assert env["REQUEST_URI"] == "/environ/a%20b/caf%C3%A9?" + q
    assert env["PATH_INFO"] == "/environ/a b/café"
    assert env["SCRIPT_NAME"] == ""
    assert env["HTTP_X_CUSTOM"] == "yes"
    assert env["HTTP_HOST"] == "site.test"
    assert env["REMOTE_ADDR"] == "127.0.0.1"
    assert env["SERVER_PROTOCOL"] == "HTTP/1.1"
    assert env["SERVER_PORT"] == str(ports[via])
    assert env["gateway.url_scheme"] == "http"
    assert env["gateway.protocol"] == via.split("-")[0]
    assert env.get("CONTENT_LENGTH", "0") == "0"  # SCGI always sends it
    if via.startswith("fastcgi"):
        # fastcgi_params set no PATH_INFO: it came from REQUEST_URI (above);
        # their SCRIPT_NAME ($fastcgi_script_name, the whole path) is not
        # taken (SCRIPT_NAME is empty unless script_name is configured)
        assert env["DOCUMENT_URI"] == "/environ/a b/café"


@pytest.mark.parametrize("via", PROXIED)
def test_raw_utf8_query_strings(site, via):
    _, ports, _ = site
    status, _, body = request(ports[via], "GET", "/environ/zoë?q=Zoë+漢字&r=%26")
    assert status == 200, body
    env = json.loads(body)
    assert env["QUERY_STRING"] == "q=Zoë+漢字&r=%26"
    assert env["PATH_INFO"] == "/environ/zoë"


ALL_PATHS = ["http"] + PROXIED


@pytest.mark.parametrize("via", ALL_PATHS)
def test_repeated_fields_are_joined_and_cookies_with_a_semicolon(site, via):
    """nginx sends one variable per header line (and passes the lines on
    over HTTP): the app sees one key per field, repeats joined with ", ",
    Cookie lines with "; " (RFC 9113 8.2.3, as nginx joins $http_cookie)."""
    _, ports, _ = site
    status, _, body = request(ports[via], "GET", "/environ", headers=[
        ("X-Rep", "one"), ("Cookie", "session=abc"), ("X-Rep", "two"), ("Cookie", "csrf=xyz")])
    assert status == 200, body
    env = json.loads(body)
    assert env["HTTP_X_REP"] == "one, two"
    assert env["HTTP_COOKIE"] == "session=abc; csrf=xyz"


@pytest.mark.parametrize("via", ALL_PATHS)
def test_content_type_and_length_only_as_cgi_keys(site, via):
    _, ports, _ = site
    status, _, body = request(ports[via], "POST", "/environ", body=b"a=1&b=2",
                              headers={"Content-Type": "application/x-www-form-urlencoded", "Proxy": "http://evil.test"})
    assert status == 200, body
    env = json.loads(body)
    assert env["CONTENT_TYPE"] == "application/x-www-form-urlencoded"
    assert env["CONTENT_LENGTH"] == "7"
    assert "HTTP_CONTENT_TYPE" not in env and "HTTP_CONTENT_LENGTH" not in env
    assert "HTTP_PROXY" not in env   # httpoxy, on every protocol


@pytest.mark.parametrize("via", ALL_PATHS)
def test_raw_utf8_in_the_target_is_served_on_every_path(site, via):
    """One policy on the four listeners: bytes above 0x7F in the target are
    taken as they come (curl sends them raw, nginx passes them on)."""
    _, ports, _ = site
    status, _, body = request(ports[via], "GET", "/environ/café?q=zoë")
    assert status == 200, body
    env = json.loads(body)
    assert env["PATH_INFO"] == "/environ/café"
    assert env["QUERY_STRING"] == "q=zoë"
    assert env["REQUEST_URI"] == "/environ/café?q=zoë"


def test_raw_utf8_in_the_target_over_http_directly(site):
    s, _, _ = site
    with socket.create_connection(("127.0.0.1", s.port), timeout=5) as c:
        c.sendall("GET /environ/café HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
        raw = read_all(c, 5)
    assert raw.startswith(b"HTTP/1.1 200 "), raw[:200]
    assert json.loads(raw.partition(b"\r\n\r\n")[2])["PATH_INFO"] == "/environ/café"


@pytest.mark.parametrize("proto", ["uwsgi", "scgi", "fastcgi"])
def test_nul_in_the_path_is_a_400_without_path_info(site, proto):
    """The path comes from REQUEST_URI (fastcgi_params and scgi_params send
    no PATH_INFO): %00 there is refused as over HTTP."""
    _, _, raw = site
    params = [("REQUEST_METHOD", "GET"), ("REQUEST_URI", "/environ/a%00b")]
    if proto == "uwsgi":
        packet, expect = uwsgi_packet(params), b"HTTP/1.1 400 "
    elif proto == "scgi":
        packet, expect = scgi_packet([("CONTENT_LENGTH", "0"), ("SCGI", "1")] + params), b"Status: 400 "
    else:
        packet, expect = fcgi_request(1, params), b"Status: 400 "
    with socket.create_connection(("127.0.0.1", raw[proto]), timeout=5) as c:
        c.sendall(packet)
        got = read_all(c, 5)
    if proto == "fastcgi":
        got = fcgi_response(fcgi_read_bytes(got), 1)[0].encode("latin-1")
    assert got.startswith(expect), got[:200]


def test_the_same_answers_as_over_http(site):
    _, ports, _ = site
    path = "/environ/x?y=%C3%A9"
    _, _, b = request(ports["http"], "GET", path)
    over_http = json.loads(b)
    assert over_http["gateway.protocol"] == "http"
    for via in PROXIED:
        env = json.loads(request(ports[via], "GET", path)[2])
        for key in ("REQUEST_METHOD", "PATH_INFO", "QUERY_STRING", "SCRIPT_NAME", "REQUEST_URI", "gateway.url_scheme", "HTTP_HOST"):
            assert env[key] == over_http[key], (via, key)


@pytest.mark.parametrize("via", PROXIED)
@pytest.mark.parametrize("size", [1, 5, 70000, 1 << 20, 20 << 20])
def test_post_bodies_are_echoed_intact(site, via, size):
    _, ports, _ = site
    if size > (1 << 20) and (via.endswith("unix") or via == "fastcgi"):
        pytest.skip("the 20 MB body once per protocol is enough")
    body = os.urandom(size)
    # nginx sends the whole request before it reads the response: past the
    # socket buffers a streaming echo would wait on it forever (over HTTP too).
    path = "/echo" if size <= 70000 else "/echo-whole"
    status, hdrs, got = request(ports[via], "POST", path, body=body, timeout=60)
    assert status == 200
    assert len(got) == size and hashlib.sha256(got).digest() == hashlib.sha256(body).digest()


@pytest.mark.parametrize("via", PROXIED)
def test_statuses_headers_and_head(site, via):
    _, ports, _ = site
    for code in (201, 404, 418, 500, 503):
        status, _, _ = request(ports[via], "GET", f"/status?code={code}")
        assert status == code
    status, hdrs, body = request(ports[via], "HEAD", "/echo")
    assert status == 200 and body == b""
    status, hdrs, body = request(ports[via], "GET", "/")
    assert status == 200 and hdrs.get("server") in ("gatewayd", None) or "nginx" in hdrs.get("server", "")


@pytest.mark.parametrize("via", ["uwsgi", "scgi", "fastcgi", "fastcgi-keep"])
def test_a_request_that_times_out_is_a_504_through_nginx(site, via):
    s, ports, _ = site
    start = time.time()
    status, _, _ = request(ports[via], "GET", "/sleep?seconds=6&once=1", timeout=20)
    assert status == 504
    assert time.time() - start < 6


def test_the_master_504_over_scgi_is_a_cgi_response(site):
    _, _, raw_ports = site
    packet = scgi_packet([("CONTENT_LENGTH", "0"), ("SCGI", "1"), ("REQUEST_METHOD", "GET"), ("REQUEST_URI", "/sleep?seconds=6&once=1")])
    with socket.create_connection(("127.0.0.1", raw_ports["scgi"]), timeout=15) as c:
        c.sendall(packet)
        raw = read_all(c, 15)
    assert raw.startswith(b"Status: 504 Gateway Timeout\r\n"), raw[:200]


def test_a_connection_accepted_by_the_once_a_second_retry_is_not_swept_unread(site):
    """Found by bench/run.sh behind_nginx: the sweep after acceptMissed() used
    the time from before it, so a connection that retry had just accepted
    looked idle for 2^64 ns and was closed unread (nginx: "recv() failed (104:
    Connection reset by peer)"). Unix listeners have no TCP_DEFER_ACCEPT, so
    their connections are accepted before their request is read."""
    _, _, raw = site
    packet = uwsgi_packet([("REQUEST_METHOD", "GET"), ("REQUEST_URI", "/")])
    errors, served = [], [0]

    def hammer():
        end = time.time() + 3.5
        while time.time() < end:
            with socket.socket(socket.AF_UNIX) as c:
                try:
                    c.settimeout(5)
                    c.connect(raw["uwsgi-unix"])
                    c.sendall(packet)
                    got = read_all(c, 5)
                    if got.startswith(b"HTTP/1.1 200 "):
                        served[0] += 1
                    else:
                        errors.append(got[:40])
                except OSError as e:
                    errors.append(repr(e))

    threads = [threading.Thread(target=hammer) for _ in range(24)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert served[0] > 1000
    assert errors == [], f"{len(errors)} of {served[0] + len(errors)} connections refused: {errors[:3]}"


def uwsgi_packet(pairs):
    block = b"".join(struct.pack("<H", len(k)) + k.encode() + struct.pack("<H", len(v.encode())) + v.encode() for k, v in pairs)
    return b"\x00" + struct.pack("<H", len(block)) + b"\x00" + block


def scgi_packet(pairs):
    block = b"".join(k.encode() + b"\0" + v.encode() + b"\0" for k, v in pairs)
    return str(len(block)).encode() + b":" + block + b","


def test_raw_uwsgi_response_is_an_http_status_line_close_delimited(site):
    _, _, raw_ports = site
    pkt = uwsgi_packet([("REQUEST_METHOD", "POST"), ("REQUEST_URI", "/echo"), ("CONTENT_LENGTH", "5"), ("HTTPS", "on")])
    with socket.create_connection(("127.0.0.1", raw_ports["uwsgi"]), timeout=5) as c:
        # split across writes, body after a pause
        c.sendall(pkt[:3]); time.sleep(0.05); c.sendall(pkt[3:]); time.sleep(0.05); c.sendall(b"hello")
        raw = read_all(c, 5)
    assert raw.startswith(b"HTTP/1.1 200 OK\r\n"), raw
    assert raw.endswith(b"\r\n\r\nhello")
    assert b"Transfer-Encoding" not in raw


def test_raw_scgi_environ_scheme_and_cgi_status(site):
    _, _, raw_ports = site
    pkt = scgi_packet([("CONTENT_LENGTH", "0"), ("SCGI", "1"), ("REQUEST_METHOD", "GET"),
                       ("REQUEST_URI", "/environ"), ("REQUEST_SCHEME", "https"), ("gateway.protocol", "spoof")])
    with socket.create_connection(("127.0.0.1", raw_ports["scgi"]), timeout=5) as c:
        c.sendall(pkt)
        raw = read_all(c, 5)
    assert raw.startswith(b"Status: 200 OK\r\n"), raw
    env = json.loads(raw.partition(b"\r\n\r\n")[2])
    assert env["gateway.url_scheme"] == "https"
    assert env["gateway.protocol"] == "scgi"
    assert env["PATH_INFO"] == "/environ"


@pytest.mark.parametrize("proto,packet,expect", [
    ("uwsgi", b"\x05\x00\x00\x00", b"HTTP/1.1 400 "),
    ("scgi", b"12:CONTENT_LENGTH\x000\x00;", b"Status: 400 "),
    ("scgi", b"abc", b"Status: 400 "),
    ("uwsgi", uwsgi_packet([("REQUEST_URI", "/")]), b"HTTP/1.1 400 "),
])
def test_bad_packets_are_refused_in_the_protocols_form(site, proto, packet, expect):
    _, _, raw_ports = site
    with socket.create_connection(("127.0.0.1", raw_ports[proto]), timeout=5) as c:
        c.sendall(packet)
        raw = read_all(c, 5)
    assert raw.startswith(expect), raw


def test_access_log_shows_the_request_as_the_proxy_saw_it(site, workdir):
    s, ports, _ = site
    request(ports["scgi"], "GET", "/status?code=202", headers={"User-Agent": "probe/1.0", "Referer": "http://r.test/"})
    request(ports["uwsgi-unix"], "GET", "/status?code=203")
    deadline = time.time() + 5
    text = ""
    while time.time() < deadline:
        text = open(os.path.join(workdir, "access.log")).read()
        if "code=203" in text:
            break
        time.sleep(0.1)
    lines = [line for line in text.splitlines() if "/status?code=20" in line]
    assert any(line.startswith("127.0.0.1 ") and '"GET /status?code=202 HTTP/1.1" 202' in line
               and '"http://r.test/" "probe/1.0"' in line for line in lines), text
    assert any(line.startswith("127.0.0.1 ") and '"GET /status?code=203 HTTP/1.1" 203' in line for line in lines), text


# ---------------------------------------------------------------- FastCGI

FCGI_BEGIN, FCGI_ABORT, FCGI_END, FCGI_PARAMS, FCGI_STDIN, FCGI_STDOUT = 1, 2, 3, 4, 5, 6
FCGI_GET_VALUES, FCGI_GET_VALUES_RESULT, FCGI_UNKNOWN_TYPE = 9, 10, 11


def fcgi_record(rtype, rid, content=b"", padding=None):
    pad = (-len(content)) % 8 if padding is None else padding
    return struct.pack(">BBHHBB", 1, rtype, rid, len(content), pad, 0) + content + b"\0" * pad


def fcgi_pair(k, v):
    k, v = k.encode(), v.encode()
    length = lambda n: bytes([n]) if n < 128 else struct.pack(">I", n | 0x80000000)
    return length(len(k)) + length(len(v)) + k + v


def fcgi_request(rid, params, body=b"", keep=False, end_stdin=True):
    out = fcgi_record(FCGI_BEGIN, rid, struct.pack(">HB5x", 1, 1 if keep else 0))
    out += fcgi_record(FCGI_PARAMS, rid, b"".join(fcgi_pair(k, v) for k, v in params)) + fcgi_record(FCGI_PARAMS, rid)
    if body:
        out += fcgi_record(FCGI_STDIN, rid, body)
    if end_stdin:
        out += fcgi_record(FCGI_STDIN, rid)
    return out


def fcgi_get(path, query=""):
    return [("REQUEST_METHOD", "GET"), ("REQUEST_URI", path + ("?" + query if query else "")),
            ("QUERY_STRING", query), ("SERVER_NAME", "site.test"), ("SERVER_PORT", "80")]


def fcgi_read(sock, until_end=True, timeout=10):
    """Records from the socket up to END_REQUEST (or EOF): [(type, id, content, padding)]."""
    sock.settimeout(timeout)
    buf, records = b"", []
    while True:
        while len(buf) >= 8:
            _, t, rid, clen, plen, _ = struct.unpack(">BBHHBB", buf[:8])
            if len(buf) < 8 + clen + plen:
                break
            records.append((t, rid, buf[8:8 + clen], plen))
            buf = buf[8 + clen + plen:]
            if until_end and t == FCGI_END:
                return records
        try:
            chunk = sock.recv(1 << 20)
        except ConnectionResetError:  # an aborted response over TCP (docs/deployment.md)
            return records
        if not chunk:
            return records
        buf += chunk


def fcgi_read_bytes(data):
    """The records in `data`: [(type, id, content, padding)]."""
    records = []
    while len(data) >= 8:
        _, t, rid, clen, plen, _ = struct.unpack(">BBHHBB", data[:8])
        records.append((t, rid, data[8:8 + clen], plen))
        data = data[8 + clen + plen:]
    return records


def fcgi_response(records, rid):
    """(CGI head text, body, END_REQUEST's (appStatus, protocolStatus)) of request `rid`."""
    out = b"".join(c for t, i, c, _ in records if t == FCGI_STDOUT and i == rid)
    ends = [struct.unpack(">IB3x", c) for t, i, c, _ in records if t == FCGI_END and i == rid]
    head, _, body = out.partition(b"\r\n\r\n")
    return head.decode("latin-1"), body, ends[0] if ends else None


@pytest.mark.parametrize("via", ["fastcgi-unix-plain", "fastcgi-unix", "fastcgi"])
def test_fastcgi_streaming_echo_gets_the_whole_body(site, via):
    """nginx stops sending the request body once the response has begun: an
    app that answers while it reads (/echo streams) would wait for the rest
    forever (small unix socket buffers show it). The rest of the STDIN is
    read ahead before the first STDOUT record (up to 4 MB)."""
    _, ports, _ = site
    for size in (300000, 300000, 300000, 2 << 20):
        body = os.urandom(size)
        status, _, got = request(ports[via], "POST", "/echo", body=body, timeout=20)
        assert status == 200 and len(got) == size and got == body, (via, size, status, len(got))


def test_fastcgi_records_are_at_most_65535_bytes_padded_and_end_the_request(site):
    _, _, raw = site
    with socket.create_connection(("127.0.0.1", raw["fastcgi"]), timeout=10) as c:
        c.sendall(fcgi_request(1, fcgi_get("/bytes", "n=200000")))
        records = fcgi_read(c)
    stdout = [r for r in records if r[0] == FCGI_STDOUT]
    assert all(len(content) <= 65535 and (len(content) + pad) % 8 == 0 for _, _, content, pad in stdout)
    assert stdout[-1][2] == b"", "an empty STDOUT closes the stream"
    assert records[-1][0] == FCGI_END and records[-2][0] == FCGI_STDOUT
    head, body, end = fcgi_response(records, 1)
    assert head.startswith("Status: 200 OK\r\n") and "Content-Length: 200000" in head
    assert "Transfer-Encoding" not in head and "HTTP/1.1" not in head
    assert len(body) == 200000
    assert end == (0, 0)  # appStatus 0, FCGI_REQUEST_COMPLETE


def test_fastcgi_sendfile_and_app_failure_in_records(site, workdir):
    _, _, raw = site
    path = os.path.join(workdir, "file.bin")
    data = os.urandom(150001)
    with open(path, "wb") as f:
        f.write(data)
    os.chmod(path, 0o644)
    with socket.create_connection(("127.0.0.1", raw["fastcgi"]), timeout=10) as c:
        c.sendall(fcgi_request(1, fcgi_get("/file", "path=" + urllib.parse.quote(path)), keep=True))
        records = fcgi_read(c)
        stdout = [r for r in records if r[0] == FCGI_STDOUT]
        assert all(len(content) <= 65535 and (len(content) + pad) % 8 == 0 for _, _, content, pad in stdout)
        head, body, end = fcgi_response(records, 1)
        assert head.startswith("Status: 200 OK") and body == data and end == (0, 0)
        # GATEWAY_ERROR before start_response: the server's 500, a CGI response;
        # the request was well framed, so the connection stays
        c.sendall(fcgi_request(2, fcgi_get("/error")))
        head, body, end = fcgi_response(fcgi_read(c), 2)
        assert head.startswith("Status: 500 Internal Server Error\r\n") and "HTTP/1.1" not in head
        assert end == (0, 0)


@pytest.mark.parametrize("path", ["/error-after", "/respond?h1=Content-Length:5000&body=partial&mode=write"])
def test_fastcgi_aborted_response_closes_without_end_request(site, path):
    """An app that fails after its first bytes, or sends fewer than its
    Content-Length: no END_REQUEST (it would say the response is whole),
    the connection closes, even with FCGI_KEEP_CONN."""
    _, _, raw = site
    with socket.create_connection(("127.0.0.1", raw["fastcgi"]), timeout=10) as c:
        c.sendall(fcgi_request(1, fcgi_get(path.partition("?")[0], path.partition("?")[2]), keep=True))
        records = fcgi_read(c)   # up to END_REQUEST, EOF or a reset
    assert records and not any(t == FCGI_END for t, _, _, _ in records), records
    assert b"partial" in b"".join(content for t, _, content, _ in records if t == FCGI_STDOUT)


def read_http_response(port, path):
    with socket.create_connection(("127.0.0.1", port), timeout=10) as c:
        c.sendall(f"GET {path} HTTP/1.1\r\nHost: site.test\r\nConnection: close\r\n\r\n".encode())
        return read_all(c, 10)


@pytest.mark.parametrize("via", ["http", "http-11", "uwsgi", "scgi", "fastcgi", "fastcgi-keep", "fastcgi-unix"])
def test_an_aborted_response_is_truncated_through_nginx(site, via):
    """nginx sees the upstream end short: the client gets a chunked
    response without its last chunk, never a complete-looking one. Where
    the close would be the response's end (uwsgi, SCGI, FastCGI without
    fastcgi_keep_conn, proxy_http_version 1.0) the close is a TCP reset;
    over a unix socket only FastCGI (END_REQUEST missing) can show it."""
    _, ports, _ = site
    raw = read_http_response(ports[via], "/error-after")
    head, _, body = raw.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 ") and b"chunked" in head.lower(), raw
    # After a reset nginx may drop what it had not passed on yet: shorter still, never whole.
    assert body in (b"", b"7\r\npartial\r\n"), raw


@pytest.mark.parametrize("via", ["uwsgi", "scgi"])
def test_uwsgi_and_scgi_abort_with_a_length_is_truncated_through_nginx(site, via):
    """Over uwsgi and SCGI only a Content-Length lets nginx tell an abort
    from the end (docs/deployment.md): with one the client sees fewer bytes."""
    _, ports, _ = site
    raw = read_http_response(ports[via], "/respond?h1=Content-Length:5000&body=partial&mode=write")
    head, _, body = raw.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 ") and b"content-length: 5000" in head.lower(), raw
    assert body == b"partial"


@pytest.mark.parametrize("via", ALL_PATHS)
def test_an_app_header_named_status_is_refused_on_every_protocol(site, via):
    """Over SCGI and FastCGI it would be a second CGI Status line (nginx
    takes it for the status); the server owns the status on every protocol."""
    _, ports, _ = site
    status, hdrs, body = request(ports[via], "GET", "/bad-header?name=Status&value=302%20Found")
    assert status == 500, (status, hdrs, body)
    assert b"bad header accepted" not in body


def test_fastcgi_get_values_tells_the_real_capacity(site):
    """FCGI_MAX_REQS: one request at a time per worker; FCGI_MAX_CONNS:
    worker_connections per worker (the site runs 2 workers, 1000 each)."""
    _, _, raw = site
    with socket.create_connection(("127.0.0.1", raw["fastcgi"]), timeout=5) as c:
        c.sendall(fcgi_record(FCGI_GET_VALUES, 0, fcgi_pair("FCGI_MAX_CONNS", "") + fcgi_pair("FCGI_MAX_REQS", "")))
        c.settimeout(5)
        got = b""
        while len(got) < 8 or len(got) < 8 + struct.unpack(">H", got[4:6])[0] + got[6]:
            got += c.recv(4096)
    content = fcgi_read_bytes(got)[0][2]
    assert fcgi_pair("FCGI_MAX_REQS", "2") in content, content
    assert fcgi_pair("FCGI_MAX_CONNS", "2000") in content, content


def test_fastcgi_app_4xx_keeps_the_connection_server_4xx_closes_it(site):
    _, _, raw = site
    with socket.create_connection(("127.0.0.1", raw["fastcgi"]), timeout=10) as c:
        c.sendall(fcgi_request(1, fcgi_get("/status", "code=404"), keep=True))
        head, _, end = fcgi_response(fcgi_read(c), 1)
        assert head.startswith("Status: 404 ") and end == (0, 0)
        c.sendall(fcgi_request(2, [("REQUEST_METHOD", "GET"), ("REQUEST_URI", "/a%00b")], keep=True))
        head, _, end = fcgi_response(fcgi_read(c), 2)
        assert head.startswith("Status: 400 ") and end == (0, 0)
        assert c.recv(100) == b""


def test_fastcgi_streamed_body_is_not_chunked_and_keeps_the_connection(site):
    _, _, raw = site
    with socket.create_connection(("127.0.0.1", raw["fastcgi"]), timeout=10) as c:
        c.sendall(fcgi_request(1, fcgi_get("/stream", "chunks=3&size=5"), keep=True))
        head, body, end = fcgi_response(fcgi_read(c), 1)
        assert "Transfer-Encoding" not in head and "Content-Length" not in head
        assert len(body) == 15 and end == (0, 0)
        # the same connection serves the next request
        c.sendall(fcgi_request(2, fcgi_get("/")))
        head, body, end = fcgi_response(fcgi_read(c), 2)
        assert head.startswith("Status: 200 OK") and body == b"Hello, World!"
        # without FCGI_KEEP_CONN the server closes after END_REQUEST
        assert c.recv(100) == b""


def test_fastcgi_get_values_and_unknown_types(site):
    _, _, raw = site
    with socket.create_connection(("127.0.0.1", raw["fastcgi"]), timeout=5) as c:
        ask = fcgi_pair("FCGI_MAX_CONNS", "") + fcgi_pair("FCGI_MAX_REQS", "") + fcgi_pair("FCGI_MPXS_CONNS", "")
        c.sendall(fcgi_record(FCGI_GET_VALUES, 0, ask) + fcgi_record(42, 0, b"xyz"))
        c.settimeout(5)
        got = b""
        while len(got) < 8 or len(got) < 8 + struct.unpack(">H", got[4:6])[0] + got[6] + 16:
            got += c.recv(4096)
    t, rid, clen, plen = got[1], struct.unpack(">H", got[2:4])[0], struct.unpack(">H", got[4:6])[0], got[6]
    assert (t, rid) == (FCGI_GET_VALUES_RESULT, 0)
    content = got[8:8 + clen]
    assert fcgi_pair("FCGI_MPXS_CONNS", "0") in content
    assert b"FCGI_MAX_CONNS" in content and b"FCGI_MAX_REQS" in content
    rest = got[8 + clen + plen:]
    assert rest[:8] == bytes([1, FCGI_UNKNOWN_TYPE, 0, 0, 0, 8, 0, 0]) and rest[8] == 42


def test_fastcgi_second_request_id_is_refused_while_one_is_active(site):
    _, _, raw = site
    body = b"x" * 1000
    params = [("REQUEST_METHOD", "POST"), ("REQUEST_URI", "/echo-whole"), ("CONTENT_LENGTH", str(len(body)))]
    with socket.create_connection(("127.0.0.1", raw["fastcgi"]), timeout=10) as c:
        c.sendall(fcgi_request(1, params, body[:400], end_stdin=False))
        time.sleep(0.2)  # the app is reading the body now
        c.sendall(fcgi_request(2, fcgi_get("/")))
        time.sleep(0.2)
        c.sendall(fcgi_record(FCGI_STDIN, 1, body[400:]) + fcgi_record(FCGI_STDIN, 1))
        records = fcgi_read(c, until_end=False)
    refusals = [struct.unpack(">IB3x", content) for t, rid, content, _ in records if t == FCGI_END and rid == 2]
    assert refusals == [(0, 1)]  # FCGI_CANT_MPX_CONN
    assert not any(t == FCGI_STDOUT and rid == 2 for t, rid, _, _ in records)
    head, got, end = fcgi_response(records, 1)
    assert head.startswith("Status: 200 OK") and got == body and end == (0, 0)


def test_fastcgi_abort_request_is_answered_with_end_request(site):
    _, _, raw = site
    params = [("REQUEST_METHOD", "POST"), ("REQUEST_URI", "/echo-whole"), ("CONTENT_LENGTH", "1000")]
    with socket.create_connection(("127.0.0.1", raw["fastcgi"]), timeout=10) as c:
        c.sendall(fcgi_request(7, params, b"y" * 100, keep=True, end_stdin=False))
        time.sleep(0.2)
        c.sendall(fcgi_record(FCGI_ABORT, 7))
        records = fcgi_read(c)
    assert records and records[-1][0] == FCGI_END and records[-1][1] == 7
    # the app's response never reached the web server
    assert not any(t == FCGI_STDOUT and content for t, _, content, _ in records)
    # before the parameters end: END_REQUEST at once, the connection kept
    with socket.create_connection(("127.0.0.1", raw["fastcgi"]), timeout=10) as c:
        c.sendall(fcgi_record(FCGI_BEGIN, 3, struct.pack(">HB5x", 1, 1)) + fcgi_record(FCGI_ABORT, 3))
        assert [(t, i) for t, i, _, _ in fcgi_read(c)] == [(FCGI_STDOUT, 3), (FCGI_END, 3)]
        c.sendall(fcgi_request(4, fcgi_get("/")))
        assert fcgi_response(fcgi_read(c), 4)[1] == b"Hello, World!"


@pytest.mark.parametrize("records,status", [
    (fcgi_request(5, [("REQUEST_URI", "/")]), 400),                       # no REQUEST_METHOD
    (fcgi_request(5, [("REQUEST_METHOD", "GET"), ("REQUEST_URI", "/"), ("CONTENT_LENGTH", "x")]), 400),
    (fcgi_request(5, [("REQUEST_METHOD", "GET"), ("A B", "x"), ("REQUEST_URI", "/")]), 400),
    (fcgi_record(FCGI_BEGIN, 5, struct.pack(">HB5x", 1, 0)) + fcgi_record(FCGI_STDIN, 5, b"early"), 400),
])
def test_fastcgi_bad_params_are_a_cgi_400_in_records(site, records, status):
    _, _, raw = site
    with socket.create_connection(("127.0.0.1", raw["fastcgi"]), timeout=5) as c:
        c.sendall(records)
        got = fcgi_read(c)
    head, _, end = fcgi_response(got, 5)
    assert head.startswith(f"Status: {status} "), got
    assert end == (0, 0)


def test_fastcgi_broken_framing_closes_the_connection(site):
    _, _, raw = site
    with socket.create_connection(("127.0.0.1", raw["fastcgi"]), timeout=5) as c:
        c.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        assert read_all(c, 5) == b""


def test_the_master_504_over_fastcgi_is_a_cgi_response_in_records(site):
    _, _, raw = site
    with socket.create_connection(("127.0.0.1", raw["fastcgi"]), timeout=15) as c:
        c.sendall(fcgi_request(9, fcgi_get("/sleep", "seconds=6&once=1"), keep=True))
        records = fcgi_read(c, timeout=15)
    head, body, end = fcgi_response(records, 9)
    assert head.startswith("Status: 504 Gateway Timeout\r\n"), records
    assert end == (0, 0)


def established(port):
    """The peers connected to our listening `port` (TCP, established)."""
    out = subprocess.run(["ss", "-Htn", "state", "established", f"( sport = :{port} )"],
                         capture_output=True, text=True, check=True).stdout
    return {line.split()[-1] for line in out.splitlines() if line.strip()}


def test_fastcgi_keep_alive_pool_serves_many_requests_over_one_connection(site):
    _, ports, raw = site
    peers = set()
    for i in range(40):
        status, _, body = request(ports["fastcgi-keep"], "GET", f"/environ?i={i}")
        assert status == 200 and json.loads(body)["QUERY_STRING"] == f"i={i}"
        status, _, body = request(ports["fastcgi-keep"], "POST", "/echo", body=b"k" * (i * 100))
        assert status == 200 and body == b"k" * (i * 100)
        peers |= established(raw["fastcgi-keep"])
    # one nginx worker, one request at a time: its pool holds one connection
    assert len(peers) == 1, peers
    # without keep-alive, nginx opens a connection per request and gatewayd closes each
    for i in range(5):
        assert request(ports["fastcgi"], "GET", "/")[0] == 200
    wait_until(lambda: not established(raw["fastcgi"]), what="the non-keep-alive FastCGI connections closed")


def test_fastcgi_over_a_unix_socket_keeps_its_connection(site, workdir):
    _, ports, raw = site
    for i in range(10):
        assert request(ports["fastcgi-unix"], "GET", f"/environ?u={i}")[0] == 200
    out = subprocess.run(["ss", "-Hxn", "state", "connected", "src", raw["fastcgi-unix"]],
                         capture_output=True, text=True).stdout
    assert len([line for line in out.splitlines() if line.strip()]) == 1, out


CGI_FCGI = shutil.which("cgi-fcgi")


@pytest.mark.skipif(CGI_FCGI is None, reason="cgi-fcgi (Debian's libfcgi-bin)")
@pytest.mark.parametrize("transport", ["tcp", "unix"])
def test_cgi_fcgi_is_a_second_independent_client(site, transport):
    _, _, raw = site
    target = f"127.0.0.1:{raw['fastcgi']}" if transport == "tcp" else raw["fastcgi-unix"]
    env = {"REQUEST_METHOD": "GET", "REQUEST_URI": "/environ/x%20y?a=%C3%A9", "QUERY_STRING": "a=%C3%A9",
           "SERVER_NAME": "cgi.test", "SERVER_PORT": "8080", "SERVER_PROTOCOL": "HTTP/1.1", "PATH": os.environ["PATH"]}
    r = subprocess.run([CGI_FCGI, "-bind", "-connect", target], env=env, capture_output=True, timeout=20)
    head, _, body = r.stdout.partition(b"\r\n\r\n")
    assert head.startswith(b"Status: 200 OK\r\n"), r.stdout[:300] + r.stderr
    got = json.loads(body)
    assert got["PATH_INFO"] == "/environ/x y" and got["QUERY_STRING"] == "a=%C3%A9"
    assert got["gateway.protocol"] == "fastcgi" and got["SERVER_NAME"] == "cgi.test"
    data = os.urandom(300000)
    env.update({"REQUEST_METHOD": "POST", "REQUEST_URI": "/echo-whole", "CONTENT_LENGTH": str(len(data))})
    r = subprocess.run([CGI_FCGI, "-bind", "-connect", target], env=env, input=data, capture_output=True, timeout=20)
    head, _, body = r.stdout.partition(b"\r\n\r\n")
    assert head.startswith(b"Status: 200 OK\r\n") and body == data


# ------------------------------------------- WSGI frameworks over each protocol

from test_wsgi import WORKERS_AS_ROOT, WSGI_APPS, WSGI_SO, frameworks  # noqa: E402,F401

FRAMEWORK_REQUESTS = {
    "flask_app:app": [
        ("GET", "/", None, {}),
        ("GET", "/user/zo%C3%AB?q=caf%C3%A9", None, {}),
        ("POST", "/json", b'{"numbers": [1, 2, 3]}', {"Content-Type": "application/json"}),
        ("POST", "/form", b"first=Ada&last=Lovelace&tag=a&tag=b", {"Content-Type": "application/x-www-form-urlencoded"}),
        ("GET", "/cookie/set?v=mint", None, {}),
        ("GET", "/cookie/get", None, {"Cookie": "flavour=mint; other=1"}),
        ("GET", "/stream", None, {}),
        ("HEAD", "/", None, {}),
        ("GET", "/missing", None, {}),
        ("GET", "/boom", None, {}),
    ],
    "django_app:application": [
        ("GET", "/", None, {}),
        ("POST", "/contact/", b"name=Ada&age=36", {"Content-Type": "application/x-www-form-urlencoded"}),
        ("POST", "/contact/", b"name=&age=-1", {"Content-Type": "application/x-www-form-urlencoded"}),
        ("POST", "/api/?x=%C3%A9", b'{"numbers": [4, 5]}', {"Content-Type": "application/json"}),
        ("GET", "/api/", None, {}),      # 405 from require_POST
        ("GET", "/cookie/set/?v=mint", None, {}),
        ("GET", "/cookie/get/", None, {"Cookie": "flavour=mint"}),
        ("GET", "/stream/", None, {}),
        ("GET", "/contact", None, {}),   # CommonMiddleware's redirect to /contact/
        ("GET", "/missing/", None, {}),
        ("GET", "/boom/", None, {}),
    ],
}

# What nginx or the transport decide, not the app.
TRANSPORT_HEADERS = {"date", "server", "connection", "transfer-encoding", "keep-alive"}


@pytest.mark.parametrize("app", sorted(FRAMEWORK_REQUESTS))
def test_wsgi_frameworks_answer_the_same_over_every_protocol(gatewayd, workdir, frameworks, app):
    assert os.path.exists(WSGI_SO)
    http_port, uw, fc, sc = free_port(), free_port(), free_port(), free_port()
    settings = {"allow_root": True} if WORKERS_AS_ROOT else {}
    gatewayd(app=WSGI_SO, app_args={"app": app, "pythonpath": [WSGI_APPS, *frameworks]}, port=http_port, workers=1,
             bind=[f"127.0.0.1:{http_port}", f"uwsgi:127.0.0.1:{uw}", f"fastcgi:127.0.0.1:{fc}", f"scgi:127.0.0.1:{sc}"],
             **settings)
    front = {"http": free_port(), "uwsgi": free_port(), "fastcgi": free_port(), "scgi": free_port()}
    stop = start_nginx(workdir, f"""
  upstream pool {{ server 127.0.0.1:{fc}; keepalive 2; }}
  server {{ listen 127.0.0.1:{front['http']}; location / {{ proxy_pass http://127.0.0.1:{http_port}; proxy_set_header Host $host; }} }}
  server {{ listen 127.0.0.1:{front['uwsgi']}; location / {{ include /etc/nginx/uwsgi_params; uwsgi_pass 127.0.0.1:{uw}; }} }}
  server {{ listen 127.0.0.1:{front['fastcgi']}; location / {{ include /etc/nginx/fastcgi_params; fastcgi_pass pool; fastcgi_keep_conn on; }} }}
  server {{ listen 127.0.0.1:{front['scgi']}; location / {{ include /etc/nginx/scgi_params; scgi_pass 127.0.0.1:{sc}; }} }}
""")
    try:
        time.sleep(0.3)
        for method, path, body, headers in FRAMEWORK_REQUESTS[app]:
            answers = {}
            for via, port in front.items():
                status, hdrs, got = request(port, method, path, body=body, headers=headers)
                answers[via] = (status, {k: v for k, v in hdrs.items() if k not in TRANSPORT_HEADERS}, got)
            for via in ("uwsgi", "fastcgi", "scgi"):
                assert answers[via] == answers["http"], (method, path, via, answers[via], answers["http"])
            assert answers["http"][0] in (200, 301, 400, 404, 405, 500), (method, path, answers["http"])
    finally:
        stop()


# ------------------------------------------------- the same rules over each protocol

ALL_VIA = ["http", "uwsgi", "scgi", "uwsgi-unix", "scgi-unix", "fastcgi", "fastcgi-keep", "fastcgi-unix"]


def raw_exchange(proto, port, params):
    """One request straight to a uwsgi/scgi/fastcgi listener: (head text, body)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as c:
        if proto == "fastcgi":
            c.sendall(fcgi_request(1, params))
            head, body, _ = fcgi_response(fcgi_read(c), 1)
            return head, body
        c.sendall(uwsgi_packet(params) if proto == "uwsgi" else scgi_packet([("CONTENT_LENGTH", "0"), ("SCGI", "1"), *params]))
        head, _, body = read_all(c, 10).partition(b"\r\n\r\n")
        return head.decode("latin-1"), body


@pytest.mark.parametrize("via", ALL_VIA)
def test_no_server_or_date_of_ours_behind_nginx_so_server_tokens_off_hides_it(gatewayd, workdir, via):
    """nginx passes an upstream's Server and Date on in place of its own over
    uwsgi_pass, scgi_pass and fastcgi_pass (proxy_pass hides them): gatewayd
    sends neither there, as PHP-FPM and uWSGI do not."""
    http_port, uw, sc, fc = free_port(), free_port(), free_port(), free_port()
    usock, ssock, fsock = (os.path.join(workdir, n) for n in ("u.sock", "s.sock", "f.sock"))
    gatewayd(port=http_port, workers=1, unix_socket_mode="0666",
             bind=[f"127.0.0.1:{http_port}", f"uwsgi:127.0.0.1:{uw}", f"scgi:127.0.0.1:{sc}", f"fastcgi:127.0.0.1:{fc}",
                   f"uwsgi:unix:{usock}", f"scgi:unix:{ssock}", f"fastcgi:unix:{fsock}"])
    front = free_port()
    upstream = {
        "http": f"proxy_pass http://127.0.0.1:{http_port};",
        "uwsgi": f"include /etc/nginx/uwsgi_params; uwsgi_pass 127.0.0.1:{uw};",
        "scgi": f"include /etc/nginx/scgi_params; scgi_pass 127.0.0.1:{sc};",
        "uwsgi-unix": f"include /etc/nginx/uwsgi_params; uwsgi_pass unix:{usock};",
        "scgi-unix": f"include /etc/nginx/scgi_params; scgi_pass unix:{ssock};",
        "fastcgi": f"include /etc/nginx/fastcgi_params; fastcgi_pass 127.0.0.1:{fc};",
        "fastcgi-keep": f"include /etc/nginx/fastcgi_params; fastcgi_pass pool; fastcgi_keep_conn on;",
        "fastcgi-unix": f"include /etc/nginx/fastcgi_params; fastcgi_pass unix:{fsock};",
    }[via]
    stop = start_nginx(workdir, f"""
  server_tokens off;
  upstream pool {{ server 127.0.0.1:{fc}; keepalive 2; }}
  server {{ listen 127.0.0.1:{front}; location / {{ {upstream} }} }}
""")
    try:
        time.sleep(0.3)
        for path in ("/", "/status?code=404", "/stream", "/nowhere%00"):
            status, hdrs, _ = request(front, "GET", path)
            assert hdrs.get("server") == "nginx", (path, status, hdrs)
            assert "date" in hdrs and len([1 for k in hdrs if k == "date"]) == 1
        # the app's own Server still passes (proxy_pass hides any upstream's)
        status, hdrs, _ = request(front, "GET", "/respond?h1=Server:myapp/2&body=x")
        assert status == 200 and hdrs.get("server") == ("nginx" if via == "http" else "myapp/2"), hdrs
    finally:
        stop()


def test_raw_responses_carry_no_server_or_date_but_http_does(site):
    s, _, raw_ports = site
    get_env = [("REQUEST_METHOD", "GET"), ("REQUEST_URI", "/"), ("SERVER_NAME", "x"), ("SERVER_PORT", "80")]
    for proto in ("uwsgi", "scgi", "fastcgi"):
        head, body = raw_exchange(proto, raw_ports[proto], get_env)
        assert head.split("\r\n")[0] in ("HTTP/1.1 200 OK", "Status: 200 OK"), head
        assert "\r\nServer:" not in head and "\r\nDate:" not in head, (proto, head)
        # the server's own error responses too (400: no REQUEST_METHOD)
        head, _ = raw_exchange(proto, raw_ports[proto], [("REQUEST_URI", "/")])
        assert " 400 " in head.split("\r\n")[0] and "Server:" not in head and "Date:" not in head, (proto, head)
    st, hdrs, _ = request(s.port, "GET", "/")
    assert hdrs.get("server") == "gatewayd" and "date" in hdrs


def test_the_master_504_behind_a_proxy_has_no_server_or_date(site):
    _, _, raw_ports = site
    head, _ = raw_exchange("scgi", raw_ports["scgi"], [("REQUEST_METHOD", "GET"), ("REQUEST_URI", "/sleep?seconds=6&once=1")])
    assert head.startswith("Status: 504 "), head
    assert "Server:" not in head and "Date:" not in head, head


@pytest.mark.parametrize("via", PROXIED)
def test_shedding_applies_over_every_protocol(gatewayd, workdir, via):
    """max_queue_wait over uwsgi, SCGI and FastCGI: nginx passes the client's
    X-Request-Start as HTTP_X_REQUEST_START; the 503 (with Retry-After) is
    the protocol's own, and the app is not called."""
    uw, sc, fc = free_port(), free_port(), free_port()
    usock, ssock, fsock = (os.path.join(workdir, n) for n in ("u.sock", "s.sock", "f.sock"))
    aport = free_port()
    hp = free_port()  # the fixture waits for an HTTP listener
    gatewayd(port=hp, workers=1, max_queue_wait=0.5, unix_socket_mode="0666", admin_bind=[f"127.0.0.1:{aport}"],
             bind=[f"127.0.0.1:{hp}", f"uwsgi:127.0.0.1:{uw}", f"scgi:127.0.0.1:{sc}", f"fastcgi:127.0.0.1:{fc}",
                   f"uwsgi:unix:{usock}", f"scgi:unix:{ssock}", f"fastcgi:unix:{fsock}"])
    front = free_port()
    upstream = {
        "uwsgi": f"include /etc/nginx/uwsgi_params; uwsgi_pass 127.0.0.1:{uw};",
        "scgi": f"include /etc/nginx/scgi_params; scgi_pass 127.0.0.1:{sc};",
        "uwsgi-unix": f"include /etc/nginx/uwsgi_params; uwsgi_pass unix:{usock};",
        "scgi-unix": f"include /etc/nginx/scgi_params; scgi_pass unix:{ssock};",
        "fastcgi": f"include /etc/nginx/fastcgi_params; fastcgi_pass 127.0.0.1:{fc};",
        "fastcgi-keep": f"include /etc/nginx/fastcgi_params; fastcgi_pass pool; fastcgi_keep_conn on;",
        "fastcgi-unix": f"include /etc/nginx/fastcgi_params; fastcgi_pass unix:{fsock};",
    }[via]
    stop = start_nginx(workdir, f"""
  upstream pool {{ server 127.0.0.1:{fc}; keepalive 2; }}
  server {{ listen 127.0.0.1:{front}; location / {{ {upstream} }} }}
""")
    try:
        time.sleep(0.3)
        t = time.time()
        status, hdrs, body = request(front, "GET", "/sleep?seconds=3", headers={"X-Request-Start": "t=%.3f" % (time.time() - 2)})
        assert status == 503 and hdrs.get("retry-after") == "1", (status, hdrs, body)
        assert b"waited too long in the queue" in body
        assert time.time() - t < 1, "the app (a 3 s sleep) was not called"
        for h in [{"X-Request-Start": "t=%.3f" % time.time()}, {}, {"X-Request-Start": "soon"}]:
            assert request(front, "GET", "/", headers=h)[0] == 200, h
        assert "gatewayd_requests_shed_total 1" in http_get_body(aport, "/metrics")
    finally:
        stop()


def http_get_body(port, path):
    with socket.create_connection(("127.0.0.1", port), timeout=5) as c:
        c.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
        return read_all(c, 5).partition(b"\r\n\r\n")[2].decode()


def test_shed_replies_are_in_each_protocols_own_form_and_only_from_trusted_peers(gatewayd, workdir):
    uw, sc, fc = free_port(), free_port(), free_port()
    fsock = os.path.join(workdir, "f.sock")
    aport = free_port()
    # the TCP peer (127.0.0.1) is not trusted; unix socket peers are ("unix"), as over HTTP
    hp = free_port()
    gatewayd(port=hp, workers=1, max_queue_wait=0.5, forwarded_allow_ips=["10.9.9.9", "unix"], admin_bind=[f"127.0.0.1:{aport}"],
             bind=[f"127.0.0.1:{hp}", f"uwsgi:127.0.0.1:{uw}", f"scgi:127.0.0.1:{sc}", f"fastcgi:127.0.0.1:{fc}", f"fastcgi:unix:{fsock}"])
    old = ("HTTP_X_REQUEST_START", "t=%.3f" % (time.time() - 5))
    params = [("REQUEST_METHOD", "GET"), ("REQUEST_URI", "/"), ("SERVER_NAME", "x"), ("SERVER_PORT", "80"), old]
    for proto, port in (("uwsgi", uw), ("scgi", sc), ("fastcgi", fc)):
        head, body = raw_exchange(proto, port, params)
        assert head.split("\r\n")[0] in ("HTTP/1.1 200 OK", "Status: 200 OK"), (proto, head)
    with socket.socket(socket.AF_UNIX) as c:
        c.settimeout(10)
        c.connect(fsock)
        c.sendall(fcgi_request(1, params))
        head, body, end = fcgi_response(fcgi_read(c), 1)
    assert head.startswith("Status: 503 Service Unavailable\r\n") and "Retry-After: 1" in head, head
    assert end == (0, 0) and b"waited too long" in body
    metrics = http_get_body(aport, "/metrics")
    assert "gatewayd_requests_shed_total 1" in metrics, [l for l in metrics.splitlines() if "shed" in l]


def test_cgi_fcgi_with_an_old_request_start_is_shed(gatewayd, workdir):
    if not CGI_FCGI:
        pytest.skip("cgi-fcgi (libfcgi-bin)")
    fc, uw, hp = free_port(), free_port(), free_port()
    gatewayd(port=hp, workers=1, max_queue_wait=0.5, bind=[f"127.0.0.1:{hp}", f"fastcgi:127.0.0.1:{fc}", f"uwsgi:127.0.0.1:{uw}"])
    env = {"REQUEST_METHOD": "GET", "REQUEST_URI": "/", "SERVER_NAME": "cgi.test", "SERVER_PORT": "80",
           "HTTP_X_REQUEST_START": "t=%.3f" % (time.time() - 3), "PATH": os.environ["PATH"]}
    r = subprocess.run([CGI_FCGI, "-bind", "-connect", f"127.0.0.1:{fc}"], env=env, capture_output=True, timeout=20)
    assert r.stdout.startswith(b"Status: 503 Service Unavailable\r\n"), r.stdout[:300] + r.stderr
    assert b"\r\nRetry-After: 1\r\n" in r.stdout
    # the raw uwsgi 503 is a status line
    head, _ = raw_exchange("uwsgi", uw, [("REQUEST_METHOD", "GET"), ("REQUEST_URI", "/"), ("HTTP_X_REQUEST_START", "t=%.3f" % (time.time() - 3))])
    assert head.startswith("HTTP/1.1 503 Service Unavailable\r\n") and "Retry-After: 1" in head, head


def test_listener_lines_and_status_say_the_protocol(gatewayd, workdir):
    http_port, uw, fc = free_port(), free_port(), free_port()
    ssock = os.path.join(workdir, "s.sock")
    aport = free_port()
    s = gatewayd(port=http_port, workers=1, admin_bind=[f"127.0.0.1:{aport}"],
                 bind=[f"127.0.0.1:{http_port}", f"uwsgi:127.0.0.1:{uw}", f"fastcgi:127.0.0.1:{fc}", f"scgi:unix:{ssock}"])
    log = s.log()
    assert f"listening on 127.0.0.1:{http_port}" in log
    assert f"listening on uwsgi:127.0.0.1:{uw}" in log
    assert f"listening on fastcgi:127.0.0.1:{fc}" in log
    assert f"listening on scgi:unix:{ssock}" in log
    listeners = {l["address"]: l["protocol"] for l in json.loads(http_get_body(aport, "/status"))["listeners"]}
    assert listeners == {f"127.0.0.1:{http_port}": "http", f"127.0.0.1:{uw}": "uwsgi", f"127.0.0.1:{fc}": "fastcgi",
                         f"unix:{ssock}": "scgi"}, listeners
    out = subprocess.run([GATEWAYD.replace("gatewayd", "gatewayctl"), "status", "--socket", f"127.0.0.1:{aport}"],
                         capture_output=True, text=True, timeout=10)
    assert f"listener uwsgi:127.0.0.1:{uw} " in out.stdout and f"listener scgi:unix:{ssock} " in out.stdout, out.stdout + out.stderr
    assert f"listener 127.0.0.1:{http_port} " in out.stdout


def test_wsgi_apps_see_gateway_protocol_over_every_protocol(gatewayd, workdir):
    assert os.path.exists(WSGI_SO)
    http_port, uw, fc, sc = free_port(), free_port(), free_port(), free_port()
    settings = {"allow_root": True} if WORKERS_AS_ROOT else {}
    gatewayd(app=WSGI_SO, app_args={"app": "protocol_app:application", "pythonpath": [WSGI_APPS]}, port=http_port, workers=1,
             bind=[f"127.0.0.1:{http_port}", f"uwsgi:127.0.0.1:{uw}", f"fastcgi:127.0.0.1:{fc}", f"scgi:127.0.0.1:{sc}"],
             **settings)
    params = [("REQUEST_METHOD", "GET"), ("REQUEST_URI", "/"), ("SERVER_NAME", "x"), ("SERVER_PORT", "80")]
    for _ in range(2):  # the second time from the key cache
        for proto, port in (("uwsgi", uw), ("fastcgi", fc), ("scgi", sc)):
            _, body = raw_exchange(proto, port, params)
            env = json.loads(body)
            assert env["gateway.protocol"] == proto, env
            assert {"gateway.worker_id", "gateway.generation", "gateway.worker_pid"} <= env.keys()
        st, _, body = request(http_port, "GET", "/")
        assert st == 200 and json.loads(body)["gateway.protocol"] == "http"
