"""Answers with the gateway.* keys of its environ (JSON): which protocol carried the request."""
import json


def application(environ, start_response):
    keys = {k: v for k, v in environ.items() if k.startswith("gateway.")}
    start_response("200 OK", [("Content-Type", "application/json")])
    return [json.dumps(keys).encode()]
