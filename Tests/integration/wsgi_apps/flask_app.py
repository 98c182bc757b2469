"""A real Flask app served through gatewayd's WSGI loader (test_wsgi.py)."""
import hashlib
import os

from flask import Flask, jsonify, make_response, request, send_file, stream_with_context

app = Flask(__name__)
app.config["MAX_CONTENT_LENGTH"] = 64 * 1024 * 1024


@app.get("/")
def index():
    return "<h1>Hello from Flask</h1>"


@app.get("/user/<name>")
def user(name):
    return jsonify(name=name, q=request.args.get("q"))


@app.post("/json")
def json_echo():
    data = request.get_json()
    return jsonify(received=data, doubled=[x * 2 for x in data.get("numbers", [])])


@app.route("/form", methods=["GET", "POST"])
def form():
    if request.method == "GET":
        return ('<form method="post"><input name="first"><input name="last"></form>', 200)
    return jsonify(first=request.form["first"], last=request.form["last"],
                   tags=request.form.getlist("tag"))


@app.get("/cookie/set")
def cookie_set():
    resp = make_response("cookie set")
    resp.set_cookie("flavour", request.args.get("v", "chocolate"))
    resp.set_cookie("other", "1", httponly=True)
    return resp


@app.get("/cookie/get")
def cookie_get():
    return jsonify(flavour=request.cookies.get("flavour"), other=request.cookies.get("other"))


@app.post("/upload")
def upload():
    f = request.files["file"]
    data = f.read()
    return jsonify(filename=f.filename, size=len(data), sha256=hashlib.sha256(data).hexdigest(),
                   note=request.form.get("note"))


@app.post("/raw")
def raw_body():
    data = request.get_data()
    return jsonify(size=len(data), sha256=hashlib.sha256(data).hexdigest())


@app.get("/stream")
def stream():
    def gen():
        for i in range(5):
            yield f"line {i}\n"
    return app.response_class(stream_with_context(gen()), mimetype="text/plain")


@app.get("/download")
def download():
    return send_file(request.args["path"], mimetype="application/octet-stream")


@app.get("/boom")
def boom():
    raise RuntimeError("flask view exploded")


@app.get("/pid")
def pid():
    return str(os.getpid())
