#!/usr/bin/env python3
"""Writes dist/gatewayd-<version>-<python>-<abi>-<platform>.whl (`make wheel`).

    python3 scripts/wheel.py --bin build/bin/gatewayd --ctl build/bin/gatewayctl --loader build/apps/wsgi.so --out dist

The wheel is written by hand (zipfile, PEP 427's WHEEL and RECORD, core
metadata 2.1): no build backend, no network. Run it with the Python the
loader was built against (the Makefile does): the tags are that Python's.

What pip installs, in the scheme of the environment it installs into (a
venv: <venv>/bin, <venv>/lib):

    gatewayd-<v>.data/scripts/gatewayd          -> bin/gatewayd, the binary itself
    gatewayd-<v>.data/scripts/gatewayctl        -> bin/gatewayctl, the control client
    gatewayd-<v>.data/data/lib/gatewayd/wsgi.so -> lib/gatewayd/wsgi.so, where
                                                   gatewayd looks next to itself
                                                   (<bindir>/../lib/gatewayd/wsgi.so)
    gatewayd/__init__.py, __main__.py           -> `python -m gatewayd` execs bin/gatewayd

The binary is on PATH as itself, not behind a Python launcher: its pid is
the master's (pid files, systemd, signals) and it starts without Python.
From <venv>/bin the loader finds the venv (Sources/WSGILoader/venv.c).

The tags say what the files need, no more:
  - python and abi `cpXY` (with the ABI flags): wsgi.so links libpython3.X
    and uses its C API, which is not the stable ABI.
  - platform `linux_x86_64` (sysconfig's), not manylinux: the glibc symbols
    would allow manylinux_2_35 (the newest the binaries use is GLIBC_2.35),
    but gatewayd links libsystemd.so.0 and wsgi.so links libpython, and
    neither is in the manylinux policy's list of libraries a wheel may
    assume. pip installs a linux_x86_64 wheel; PyPI would not take it.
wsgi.so's rpath names the libpython directory of the Python that built it:
the wheel serves venvs made from that Python installation.
"""
import argparse
import base64
import csv
import hashlib
import io
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import zipfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NAME = "gatewayd"
SUMMARY = "A pre-fork application server for Python WSGI apps and native apps (gateway interface)"

INIT_PY = '''"""gatewayd: the binary is bin/gatewayd of this environment; this package
only lets `python -m gatewayd` find and run it."""
__version__ = "{version}"
'''

# The binary is found through the installed files' record, so that
# `python -m gatewayd` works in any install scheme (venv, --user, --prefix).
MAIN_PY = '''"""python -m gatewayd [ARGS...]: runs this environment's gatewayd binary."""
import os
import shutil
import sys
import sysconfig


def binary():
    try:
        from importlib.metadata import distribution
        for f in distribution("gatewayd").files or ():
            if f.name == "gatewayd" and f.parent.name == "bin":
                path = str(f.locate())
                if os.access(path, os.X_OK):
                    return os.path.realpath(path)
    except Exception:
        pass
    path = os.path.join(sysconfig.get_path("scripts"), "gatewayd")
    return path if os.access(path, os.X_OK) else shutil.which("gatewayd")


def main():
    path = binary()
    if path is None:
        sys.exit("gatewayd: the gatewayd binary of this package is not installed")
    os.execv(path, [path] + sys.argv[1:])


if __name__ == "__main__":
    main()
'''


def project_version():
    with open(os.path.join(ROOT, "Sources", "ServerCore", "Version.swift")) as f:
        m = re.search(r'string\s*=\s*"([^"]+)"', f.read())
    if m is None:
        sys.exit("wheel.py: no version in Sources/ServerCore/Version.swift")
    return m.group(1)


def tags():
    if sys.implementation.name != "cpython":
        sys.exit("wheel.py: the WSGI loader embeds CPython; run with a CPython")
    py = "cp%d%d" % sys.version_info[:2]
    abi = py + (getattr(sys, "abiflags", "") or "")
    platform = re.sub(r"[^A-Za-z0-9]", "_", sysconfig.get_platform())
    return py, abi, platform


def stripped(path, tmp):
    """A copy without symbols (the .deb ships its binaries stripped too)."""
    out = os.path.join(tmp, os.path.basename(path))
    shutil.copy(path, out)
    if shutil.which("strip"):
        subprocess.run(["strip", "--strip-unneeded", out], check=True)
    return out


def metadata(version):
    major, minor = sys.version_info[:2]
    return (f"Metadata-Version: 2.1\nName: {NAME}\nVersion: {version}\nSummary: {SUMMARY}\n"
            f"License: MIT\nRequires-Python: =={major}.{minor}.*\n"
            "Classifier: Operating System :: POSIX :: Linux\n"
            "Classifier: Topic :: Internet :: WWW/HTTP :: WSGI :: Server\n"
            "Description-Content-Type: text/markdown\n\n"
            "`gatewayd module:app` serves a WSGI app from this environment, with "
            "Gunicorn's flags. See docs/wsgi.md in the source tree.\n")


def wheel_file(tag):
    return ("Wheel-Version: 1.0\nGenerator: gatewayd scripts/wheel.py\n"
            f"Root-Is-Purelib: false\nTag: {tag}\n")


class Writer:
    """Adds files to the zip and keeps their RECORD rows (PEP 376 hashes)."""

    def __init__(self, path):
        self.zip = zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED)
        self.rows = []
        # SOURCE_DATE_EPOCH gives reproducible wheels; zip dates start in 1980.
        epoch = max(int(os.environ.get("SOURCE_DATE_EPOCH", "315532800")), 315532800)
        self.date = __import__("time").gmtime(epoch)[:6]

    def add(self, arcname, data, executable=False):
        info = zipfile.ZipInfo(arcname, self.date)
        info.compress_type = zipfile.ZIP_DEFLATED
        info.external_attr = (0o100755 if executable else 0o100644) << 16
        self.zip.writestr(info, data)
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        self.rows.append((arcname, "sha256=" + digest, str(len(data))))

    def close(self, record):
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerows(self.rows)
        w.writerow((record, "", ""))
        self.add(record, buf.getvalue().encode())
        self.zip.close()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--bin", required=True, help="the gatewayd binary (build/bin/gatewayd)")
    ap.add_argument("--ctl", default=None, help="the gatewayctl binary (build/bin/gatewayctl)")
    ap.add_argument("--loader", required=True, help="wsgi.so built against this Python")
    ap.add_argument("--out", default="dist")
    ap.add_argument("--version", default=None, help="default: Sources/ServerCore/Version.swift")
    args = ap.parse_args()

    version = args.version or project_version()
    py, abi, platform = tags()
    tag = f"{py}-{abi}-{platform}"
    data, info = f"{NAME}-{version}.data", f"{NAME}-{version}.dist-info"
    os.makedirs(args.out, exist_ok=True)
    path = os.path.join(args.out, f"{NAME}-{version}-{tag}.whl")
    partial = path + ".part"
    with tempfile.TemporaryDirectory() as tmp:
        w = Writer(partial)
        w.add(f"{NAME}/__init__.py", INIT_PY.format(version=version).encode())
        w.add(f"{NAME}/__main__.py", MAIN_PY.encode())
        with open(stripped(args.bin, tmp), "rb") as f:
            w.add(f"{data}/scripts/gatewayd", f.read(), executable=True)
        if args.ctl:
            with open(stripped(args.ctl, tmp), "rb") as f:
                w.add(f"{data}/scripts/gatewayctl", f.read(), executable=True)
        with open(stripped(args.loader, tmp), "rb") as f:
            w.add(f"{data}/data/lib/gatewayd/wsgi.so", f.read())
        w.add(f"{info}/METADATA", metadata(version).encode())
        w.add(f"{info}/WHEEL", wheel_file(tag).encode())
        w.add(f"{info}/top_level.txt", f"{NAME}\n".encode())
        w.close(f"{info}/RECORD")
    # One gatewayd wheel in the folder, so that `pip install dist/gatewayd-*.whl` means it.
    for old in os.listdir(args.out):
        if old.startswith(NAME + "-") and old.endswith(".whl") and old != os.path.basename(path):
            os.remove(os.path.join(args.out, old))
    os.replace(partial, path)
    print(path)


if __name__ == "__main__":
    main()
