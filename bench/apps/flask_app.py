"""The Flask app of `make bench` (workload wsgi_flask): the same app under
gatewayd (wsgi.so, app_args app = "flask_app:app"), granian and Gunicorn.

    /   "Hello, World!" (text/plain, 13 bytes)
"""
from flask import Flask, Response

app = Flask(__name__)


@app.route("/")
def hello():
    return Response("Hello, World!", mimetype="text/plain")
