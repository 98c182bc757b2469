"""An app whose import fails: gatewayd must refuse to start (boot failure)."""
import json  # noqa: F401  (something that works, first)

import gatewayd_test_module_that_does_not_exist  # noqa: F401


def application(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"unreachable"]
