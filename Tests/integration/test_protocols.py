"""uwsgi and SCGI listeners (bind prefixes `uwsgi:` and `scgi:`), driven by a
real nginx with Debian's stock /etc/nginx/uwsgi_params and scgi_params, over
TCP and unix sockets; and by hand-made packets for what nginx never sends."""
import hashlib
import json
import os
import socket
import struct
import subprocess
import time
import urllib.parse

import pytest

from conftest import GATEWAYD, free_port, read_all

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
    http_port, uw, sc = free_port(), free_port(), free_port()
    usock, ssock = os.path.join(workdir, "uwsgi.sock"), os.path.join(workdir, "scgi.sock")
    s = gatewayd(port=http_port, workers=2, timeout=2, unix_socket_mode="0666",
                 access_log=os.path.join(workdir, "access.log"),
                 bind=[f"127.0.0.1:{http_port}", f"uwsgi:127.0.0.1:{uw}", f"scgi:127.0.0.1:{sc}",
                       f"uwsgi:unix:{usock}", f"scgi:unix:{ssock}"])
    ports = {"http": free_port(), "uwsgi": free_port(), "scgi": free_port(), "uwsgi-unix": free_port(), "scgi-unix": free_port()}
    stop = start_nginx(workdir, f"""
  server {{ listen 127.0.0.1:{ports['http']}; location / {{ proxy_pass http://127.0.0.1:{http_port}; proxy_set_header Host $host; }} }}
  server {{ listen 127.0.0.1:{ports['uwsgi']}; location / {{ include /etc/nginx/uwsgi_params; uwsgi_pass 127.0.0.1:{uw}; }} }}
  server {{ listen 127.0.0.1:{ports['scgi']}; location / {{ include /etc/nginx/scgi_params; scgi_pass 127.0.0.1:{sc}; }} }}
  server {{ listen 127.0.0.1:{ports['uwsgi-unix']}; location / {{ include /etc/nginx/uwsgi_params; uwsgi_pass unix:{usock}; }} }}
  server {{ listen 127.0.0.1:{ports['scgi-unix']}; location / {{ include /etc/nginx/scgi_params; scgi_pass unix:{ssock}; }} }}
""")
    time.sleep(0.3)
    yield s, ports, {"uwsgi": uw, "scgi": sc}
    stop()


def request(port, method, path, body=None, headers=None, timeout=30):
    """Raw HTTP/1.1 through nginx: (status, {header: value}, body)."""
    body = body or b""
    head = f"{method} {path} HTTP/1.1\r\nHost: site.test\r\nConnection: close\r\n"
    for k, v in (headers or {}).items():
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


PROXIED = ["uwsgi", "scgi", "uwsgi-unix", "scgi-unix"]


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
    if size > (1 << 20) and via.endswith("unix"):
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


@pytest.mark.parametrize("via", ["uwsgi", "scgi"])
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


def test_fastcgi_prefix_is_refused_until_it_is_supported(gatewayd):
    s = gatewayd(bind=["fastcgi:127.0.0.1:9"], start=False)
    r = subprocess.run([GATEWAYD, "-c", s.conf, "--check-config"],
                       capture_output=True, text=True, timeout=20)
    assert r.returncode != 0
    assert "FastCGI is not supported yet" in (r.stdout + r.stderr)
