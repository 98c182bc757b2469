#!/usr/bin/env python3
"""Writes dist/gatewayd-<version>-<python>-<abi>-<platform>.whl (`make wheel`, `make wheels`).

    python3 scripts/wheel.py --bin build/bin/gatewayd --ctl build/bin/gatewayctl --loader build/apps/wsgi.so --out dist
    python3 scripts/wheel.py --find-pythons      the CPythons `make wheels` builds for, one per X.Y

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
    .../lib/gatewayd/wsgi-python3.X.so          -> the loader's Python half, next to it
    gatewayd/__init__.py, __main__.py           -> `python -m gatewayd` execs bin/gatewayd

The binary is on PATH as itself, not behind a Python launcher: its pid is
the master's (pid files, systemd, signals) and it starts without Python.
From <venv>/bin the loader finds the venv (Sources/WSGILoader/venv.c), asks
the venv's python for its sysconfig and loads that install's libpython
(boot.c): the wheel serves a venv of any install of its X.Y (pyenv's,
Debian's, a Docker image's), whichever one built it.

The tags say what the files need, no more:
  - python and abi `cpXY` (with the ABI flags): wsgi-python3.X.so uses the
    C API of CPython X.Y, which is not the stable ABI.
  - platform `manylinux_2_N_<arch>`, computed here from the files (the
    rules of auditwheel's policies, table below): every library they link
    is in the manylinux list (libc, libm, libstdc++, libgcc_s...), and the
    newest glibc, libstdc++ and libgcc symbol versions they use fit glibc
    2.N's. Neither libpython (loaded by wsgi.so at run time from the venv's
    Python) nor libsystemd (gatewayd loads it with dlopen when NOTIFY_SOCKET
    or LISTEN_FDS ask for it) is linked. When a file links anything else,
    or objdump is missing, the tag is sysconfig's `linux_<arch>`, which pip
    installs and PyPI refuses.
"""
import argparse
import base64
import csv
import glob
import hashlib
import io
import json
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


def tags(files=()):
    if sys.implementation.name != "cpython":
        sys.exit("wheel.py: the WSGI loader embeds CPython; run with a CPython")
    py = "cp%d%d" % sys.version_info[:2]
    abi = py + (getattr(sys, "abiflags", "") or "")
    platform = manylinux(files) or re.sub(r"[^A-Za-z0-9]", "_", sysconfig.get_platform())
    return py, abi, platform


# The manylinux policies (PEP 600) of auditwheel's policy/manylinux-policy.json
# for x86_64 and aarch64: glibc 2.N -> the newest GLIBCXX, CXXABI and GCC
# symbol versions allowed. Older glibc first: the first that fits is the tag.
POLICIES = [
    # (glibc minor, GLIBCXX, CXXABI, GCC)
    (17, "3.4.19", "1.3.7", "4.8.0"),
    (24, "3.4.22", "1.3.10", "4.8.0"),
    (26, "3.4.22", "1.3.10", "4.8.0"),
    (27, "3.4.24", "1.3.11", "7.0.0"),
    (28, "3.4.24", "1.3.11", "7.0.0"),
    (31, "3.4.28", "1.3.12", "7.0.0"),
    (34, "3.4.29", "1.3.13", "7.0.0"),
    (35, "3.4.30", "1.3.13", "12.0.0"),
    (36, "3.4.30", "1.3.13", "12.0.0"),
    (38, "3.4.30", "1.3.13", "12.0.0"),
    (39, "3.4.33", "1.3.15", "14.0.0"),
    (40, "3.4.33", "1.3.15", "14.0.0"),
    (41, "3.4.33", "1.3.15", "14.0.0"),
]
LEGACY = {17: "manylinux2014"}
# The libraries a manylinux wheel may link (the policies' lib_whitelist).
ALLOWED_LIBS = {"libc.so.6", "libm.so.6", "libdl.so.2", "libpthread.so.0", "librt.so.1",
                "libutil.so.1", "libresolv.so.2", "libnsl.so.1", "libanl.so.1", "libgcc_s.so.1",
                "libstdc++.so.6", "libatomic.so.1", "libmvec.so.1", "libz.so.1", "libexpat.so.1",
                "libGL.so.1", "libICE.so.6", "libSM.so.6", "libX11.so.6", "libXext.so.6",
                "libXrender.so.1", "libglib-2.0.so.0", "libgobject-2.0.so.0", "libgthread-2.0.so.0"}


def version_key(v):
    return tuple(int(x) for x in v.split(".") if x.isdigit())


def elf_needs(path):
    """(DT_NEEDED libraries, {family: [versions]}) from `objdump -p`; None
    when it cannot tell."""
    r = subprocess.run(["objdump", "-p", path], capture_output=True, text=True)
    if r.returncode != 0:
        return None
    needed = re.findall(r"^\s*NEEDED\s+(\S+)", r.stdout, re.M)
    versions = {}
    for family, v in re.findall(r"\s0x[0-9a-f]+\s+0x[0-9a-f]+\s+\d+\s+(GLIBCXX|GLIBC|CXXABI|GCC)_(\S+)",
                                r.stdout):
        versions.setdefault(family, []).append(v)
    return needed, versions


def manylinux(files):
    """manylinux_2_N_<arch> for what `files` (ELF) need, or None."""
    arch = sysconfig.get_platform().split("-")[-1]
    if not files or arch not in ("x86_64", "aarch64") or shutil.which("objdump") is None:
        return None
    glibc, need = (2, 17), {}
    for path in files:
        found = elf_needs(path)
        if found is None:
            return None
        needed, versions = found
        # the dynamic linker itself (ld-linux-x86-64.so.2...) is every glibc system's
        outside = {n for n in needed if n not in ALLOWED_LIBS and not n.startswith(("ld-linux", "ld64.so."))}
        if outside:
            print(f"wheel.py: {os.path.basename(path)} links {sorted(outside)}, "
                  "outside the manylinux policies: tagged linux", file=sys.stderr)
            return None
        for family, vs in versions.items():
            if family == "GLIBC":
                nums = [version_key(v) for v in vs if v[:1].isdigit()]
                glibc = max([glibc] + nums)
                continue
            for v in vs:
                if v[:1].isdigit() and version_key(v) > version_key(need.get(family, "0")):
                    need[family] = v
    for minor, glibcxx, cxxabi, gcc in POLICIES:
        limits = {"GLIBCXX": glibcxx, "CXXABI": cxxabi, "GCC": gcc}
        if glibc[:2] <= (2, minor) and all(version_key(v) <= version_key(limits[f]) for f, v in need.items()):
            tag = f"manylinux_2_{minor}_{arch}"
            return f"{tag}.{LEGACY[minor]}_{arch}" if minor in LEGACY else tag
    return None


# What a candidate Python says about itself (one run each).
PROBE = ("import os, sys, sysconfig as s; p = s.get_paths(); "
         "print(sys.implementation.name, '%d.%d' % sys.version_info[:2], sys.version.split()[0], "
         "int(bool(s.get_config_var('Py_ENABLE_SHARED'))), "
         "int(os.path.exists(os.path.join(p['include'], 'Python.h'))), sys.abiflags or '-', "
         "os.path.realpath(sys.executable))")


def pyenv_root():
    root = os.environ.get("PYENV_ROOT")
    if not root and shutil.which("pyenv"):
        r = subprocess.run(["pyenv", "root"], capture_output=True, text=True)
        root = r.stdout.strip() if r.returncode == 0 else ""
    return root


def candidates():
    root = pyenv_root()
    found = []
    if root:
        found += sorted(glob.glob(os.path.join(root, "versions", "3.*", "bin", "python3")),
                        key=lambda p: version_key(p.split(os.sep)[-3]))
    found += ["/usr/bin/python3", "/usr/local/bin/python3"]
    on_path = shutil.which("python3")
    if on_path:
        found.append(on_path)
    return found


def find_pythons(headers=True, quiet=False):
    """Every CPython >= 3.9 with a shared libpython (and its headers when
    `headers`), one entry per install: dicts with path, xy, version, abi.
    Those left out are said on stderr, one line each."""
    out, seen = [], set()
    for path in candidates():
        if not os.access(path, os.X_OK):
            continue
        r = subprocess.run([path, "-I", "-c", PROBE], capture_output=True, text=True)
        if r.returncode != 0 or len(r.stdout.split()) != 7:
            continue
        impl, xy, version, shared, has_headers, abi, real = r.stdout.split()
        if real in seen:
            continue
        seen.add(real)
        why = None
        if impl != "cpython":
            why = f"{impl}, not CPython"
        elif version_key(xy) < (3, 9):
            why = "the loader needs CPython 3.9 or later"
        elif shared != "1":
            why = "no shared libpython (built without --enable-shared)"
        elif headers and has_headers != "1":
            why = "no headers (Python.h): for Debian's, apt-get install python3-dev"
        if why:
            if not quiet:
                print(f"wheels: skip {path} (Python {version}): {why}", file=sys.stderr)
            continue
        out.append({"path": path, "real": real, "xy": xy, "version": version,
                    "abi": "" if abi == "-" else abi})
    return out


def one_per_version(pythons):
    """For each X.Y (and ABI flags) the oldest install: a loader built with
    the oldest patch release's headers uses nothing a newer one lacks."""
    best = {}
    for p in pythons:
        key = (p["xy"], p["abi"])
        if key not in best or version_key(p["version"]) < version_key(best[key]["version"]):
            best[key] = p
    return sorted(best.values(), key=lambda p: version_key(p["xy"]))


def half_of(loader):
    """wsgi-python3.X.so next to wsgi.so, for this Python."""
    return os.path.join(os.path.dirname(loader), "wsgi-python%d.%d%s.so" % (
        sys.version_info[0], sys.version_info[1], getattr(sys, "abiflags", "")))


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
    """Adds files to the zip and keeps their RECORD rows (PEP 376 hashes).
    From `base` (a zip and its rows): starts as a copy of it, whose members
    are not compressed again (zipfile's append mode)."""

    def __init__(self, path, base=None):
        if base:
            shutil.copyfile(base[0], path)
            self.zip = zipfile.ZipFile(path, "a", zipfile.ZIP_DEFLATED)
            self.rows = [tuple(r) for r in base[1]]
        else:
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

    def finish(self):
        """Closes the zip without a RECORD (a base); its rows."""
        self.zip.close()
        return self.rows

    def close(self, record):
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerows(self.rows)
        w.writerow((record, "", ""))
        self.add(record, buf.getvalue().encode())
        self.zip.close()


def file_digest(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def base_members(args, version, data, cache):
    """(zip, rows) holding what every wheel of this version has: the package,
    gatewayd and gatewayctl, stripped and compressed once (about 10 s of a
    wheel's 15) and kept in `cache` (keyed by the binaries' contents) for
    the next wheel; without `cache`, in a temporary directory."""
    key = hashlib.sha256("\0".join([version, INIT_PY, MAIN_PY, file_digest(args.bin),
                                     file_digest(args.ctl) if args.ctl else ""]).encode()).hexdigest()
    os.makedirs(cache, exist_ok=True)
    zpath, jpath = os.path.join(cache, "base.zip"), os.path.join(cache, "base.json")
    try:
        with open(jpath) as f:
            saved = json.load(f)
        if saved["key"] == key and os.path.exists(zpath):
            return zpath, saved["rows"]
    except (OSError, ValueError, KeyError):
        pass
    with tempfile.TemporaryDirectory() as tmp:
        w = Writer(zpath + ".part")
        w.add(f"{NAME}/__init__.py", INIT_PY.format(version=version).encode())
        w.add(f"{NAME}/__main__.py", MAIN_PY.encode())
        with open(stripped(args.bin, tmp), "rb") as f:
            w.add(f"{data}/scripts/gatewayd", f.read(), executable=True)
        if args.ctl:
            with open(stripped(args.ctl, tmp), "rb") as f:
                w.add(f"{data}/scripts/gatewayctl", f.read(), executable=True)
        rows = w.finish()
    os.replace(zpath + ".part", zpath)
    with open(jpath + ".part", "w") as f:
        json.dump({"key": key, "rows": rows}, f)
    os.replace(jpath + ".part", jpath)
    return zpath, rows


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--find-pythons", action="store_true",
                    help="print the CPythons `make wheels` builds with, one per X.Y, and exit")
    ap.add_argument("--bin", help="the gatewayd binary (build/bin/gatewayd)")
    ap.add_argument("--ctl", default=None, help="the gatewayctl binary (build/bin/gatewayctl)")
    ap.add_argument("--loader", help="wsgi.so built against this Python (its wsgi-python3.X.so next to it)")
    ap.add_argument("--out", default="dist")
    ap.add_argument("--keep", action="store_true", help="keep the other gatewayd wheels in --out")
    ap.add_argument("--cache", default=None,
                    help="a directory to keep the stripped, compressed binaries in between wheels")
    ap.add_argument("--version", default=None, help="default: Sources/ServerCore/Version.swift")
    args = ap.parse_args()
    if args.find_pythons:
        for p in one_per_version(find_pythons()):
            print(p["path"])
        return
    if not args.bin or not args.loader:
        ap.error("--bin and --loader are required")
    half = half_of(args.loader)
    if not os.path.exists(half):
        sys.exit(f"wheel.py: {half} is missing: build the loader with this Python "
                 f"(make wsgi PYTHON={sys.executable})")

    version = args.version or project_version()
    elves = [p for p in (args.bin, args.ctl, args.loader, half) if p]
    py, abi, platform = tags(elves)
    tag = f"{py}-{abi}-{platform}"
    data, info = f"{NAME}-{version}.data", f"{NAME}-{version}.dist-info"
    os.makedirs(args.out, exist_ok=True)
    path = os.path.join(args.out, f"{NAME}-{version}-{tag}.whl")
    partial = path + ".part"
    with tempfile.TemporaryDirectory() as tmp:
        w = Writer(partial, base_members(args, version, data, args.cache or os.path.join(tmp, "base")))
        with open(stripped(args.loader, tmp), "rb") as f:
            w.add(f"{data}/data/lib/gatewayd/wsgi.so", f.read())
        with open(stripped(half, tmp), "rb") as f:
            w.add(f"{data}/data/lib/gatewayd/{os.path.basename(half)}", f.read())
        w.add(f"{info}/METADATA", metadata(version).encode())
        w.add(f"{info}/WHEEL", wheel_file(tag).encode())
        w.add(f"{info}/top_level.txt", f"{NAME}\n".encode())
        w.close(f"{info}/RECORD")
    # One gatewayd wheel in the folder, so that `pip install dist/gatewayd-*.whl`
    # means it (`make wheels` keeps them all: pip picks the one of its Python).
    for old in [] if args.keep else os.listdir(args.out):
        if old.startswith(NAME + "-") and old.endswith(".whl") and old != os.path.basename(path):
            os.remove(os.path.join(args.out, old))
    os.replace(partial, path)
    print(path)


if __name__ == "__main__":
    main()
