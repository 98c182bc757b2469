"""The todo example (Examples/todo, build/apps/todo.so) under the real
server: the Swift SDK's router, JSON, error answers, logging and a boot that
fails, as a client and an operator see them. Its logic is unit-tested on
GatewayTesting (Examples/todo/Tests); these check the same app on the wire."""
import json
import time

from conftest import Client


def todo(gatewayd, **kw):
    kw.setdefault("workers", 1)  # one worker: one in-memory list
    return gatewayd(app="todo", **kw)


def post(c, path, obj, headers=None):
    h = {"Content-Type": "application/json"}
    h.update(headers or {})
    return c.request("POST", path, headers=h, body=json.dumps(obj).encode())


def test_crud_over_keep_alive(gatewayd):
    s = todo(gatewayd)
    with Client(s.port) as c:
        r = c.request("GET", "/todos")
        assert r.status == 200 and json.loads(r.body) == []
        assert r.header("content-type") == "application/json"
        r = post(c, "/todos", {"title": "milk"})
        assert r.status == 201, r.body
        created = json.loads(r.body)
        assert created["title"] == "milk" and created["done"] is False
        assert r.header("location") == f"/todos/{created['id']}"
        assert r.header("x-request-id")
        r = c.request("PATCH", f"/todos/{created['id']}", headers={"Content-Type": "application/json"},
                      body=b'{"done":true}')
        assert json.loads(r.body)["done"] is True
        r = c.request("HEAD", f"/todos/{created['id']}")
        assert r.status == 200 and r.body == b""
        r = c.request("DELETE", f"/todos/{created['id']}")
        assert r.status == 204
        r = c.request("GET", f"/todos/{created['id']}", headers={"X-Request-Id": "wire-1"})
        assert r.status == 404
        assert r.header("content-type") == "application/problem+json"
        assert r.header("x-request-id") == "wire-1"
        assert json.loads(r.body)["status"] == 404


def test_routing_errors_and_json_problems(gatewayd):
    s = todo(gatewayd)
    with Client(s.port) as c:
        r = c.request("PUT", "/todos")
        assert r.status == 405 and r.header("allow") == "GET, HEAD, POST"
        assert c.request("GET", "/nowhere").status == 404
        assert c.request("GET", "/todos/abc").status == 400
        r = c.request("POST", "/todos", headers={"Content-Type": "application/json"}, body=b'{"title":1}')
        assert r.status == 400 and "title: expected String" in json.loads(r.body)["detail"]
        r = c.request("POST", "/todos", headers={"Content-Type": "text/plain"}, body=b"{}")
        assert r.status == 415
        # the connection survived every error answer
        assert c.request("GET", "/todos").status == 200


def test_body_limit_is_a_413_from_the_app(gatewayd):
    s = todo(gatewayd, app_args={"max_body": "1000"})
    with Client(s.port) as c:
        r = post(c, "/todos", {"title": "x" * 2000})
        assert r.status == 413
        assert r.header("x-request-id")


def test_stream_is_chunked_json_lines(gatewayd):
    s = todo(gatewayd, app_args={"seed": "3"})
    with Client(s.port) as c:
        r = c.request("GET", "/todos/stream")
        assert r.status == 200
        assert r.header("transfer-encoding") == "chunked"
        lines = [json.loads(x) for x in r.body.decode().splitlines()]
        assert [t["id"] for t in lines] == [1, 2, 3]


def test_logs_go_to_the_error_log_with_request_metadata(gatewayd):
    s = todo(gatewayd, log_level="info")
    with Client(s.port) as c:
        post(c, "/todos", {"title": "a"}, headers={"X-Request-Id": "log-7"})
    s.wait_log("request_id=log-7 status=201")
    log = s.log()
    assert "created method=POST path=/todos request_id=log-7 todo=1" in log
    assert "todo: worker 0 booted with 0 todos" in log


def test_a_bad_app_arg_fails_the_boot_with_its_reason(gatewayd):
    s = todo(gatewayd, app_args={"max_body": "lots"}, start=False)
    t = time.time()
    s.start(wait=False)
    assert s.wait_exit(timeout=15) != 0
    assert time.time() - t < 10
    assert 'invalid app_arg max_body = "lots"' in s.log()


def test_json_text_round_trips_escapes_and_unicode(gatewayd):
    # GatewayJSON's own encoder and decoder on the wire: escapes in, the
    # same string out (RFC 8259 escaping, non-ASCII as UTF-8).
    s = todo(gatewayd)
    title = 'quote " back \\ slash / tab \t nl \n é 漢字 🎉 \u0001'
    with Client(s.port) as c:
        r = c.request("POST", "/todos", headers={"Content-Type": "application/json"},
                      body=json.dumps({"title": title, "done": True}).encode())
        assert r.status == 201, r.body
        text = r.body.decode("utf-8")
        assert "é 漢字 🎉" in text and "\\/" in text and "\\u0001" in text
        assert json.loads(text) == {"id": 1, "title": title, "done": True}
        body = '{"title": "\\u00e9\\ud83c\\udf89", "done": false}'.encode()
        r = c.request("POST", "/todos", headers={"Content-Type": "application/json"}, body=body)
        assert json.loads(r.body)["title"] == "é🎉"
        for bad, detail in ((b'{"title": "a"', "the body is not valid JSON"),
                            (b'{"title": "a", "done": 1}', "done: expected Bool"),
                            (b'\xff', "the body is not valid JSON")):
            r = c.request("POST", "/todos", headers={"Content-Type": "application/json"}, body=bad)
            assert r.status == 400 and json.loads(r.body)["detail"] == detail, r.body


def test_log_level_app_arg_spares_the_lines_the_server_drops(gatewayd):
    # At log_level = "warning" (app and server), no info lines are built; a
    # 5xx would still be logged. A word that is not a level fails the boot.
    s = todo(gatewayd, log_level="info", app_args={"log_level": "warning"})
    with Client(s.port) as c:
        post(c, "/todos", {"title": "a"}, headers={"X-Request-Id": "quiet-1"})
        assert c.request("GET", "/todos").status == 200
    time.sleep(0.3)
    assert "quiet-1" not in s.log()
    bad = todo(gatewayd, app_args={"log_level": "loud"}, start=False)
    bad.start(wait=False)
    assert bad.wait_exit(timeout=15) != 0
    assert 'invalid app_arg log_level = "loud"' in bad.log()
