"""Imports a module that only the test's virtualenv has (app_args virtualenv)."""
import json
import os
import sys

import gatewayd_venv_marker


def application(environ, start_response):
    body = json.dumps({"marker": gatewayd_venv_marker.VALUE, "prefix": sys.prefix,
                       "base_prefix": sys.base_prefix, "cwd": os.getcwd(),
                       "path": sys.path}).encode()
    start_response("200 OK", [("Content-Type", "application/json")])
    return [body]
