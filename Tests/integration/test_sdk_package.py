"""The Swift SDK as a dependency, as an app author uses it (docs/swift-sdk.md,
"Building the shared object"): a package of the user's own, created here in
a temporary directory, depends on this checkout by path and uses names the
project's examples use too (a package `todo`, a target `TodoApp`, a dynamic
library product `todo`). It must build, and `swift build --product todo`
must build the user's app, not one of the project's: the root package
exports only the daemon's executables and the SDK's libraries.

One build of a small package (the SDK in debug), so one test; and a cheap
one that reads the root manifest's products."""
import json
import os
import shutil
import subprocess

import pytest

from conftest import ROOT, get

# The manifest as docs/swift-sdk.md writes it for a local checkout: the
# dependency's package name is its folder's (a worktree is not "gatewayd").
MANIFEST = '''// swift-tools-version:5.10
import PackageDescription
import Foundation

// SwiftPM names a path dependency after its folder: use that name.
let gatewaydPath = "{root}"
let gatewayd = URL(fileURLWithPath: gatewaydPath).lastPathComponent

let package = Package(
    name: "todo",
    products: [.library(name: "todo", type: .dynamic, targets: ["TodoApp"])],
    dependencies: [.package(path: gatewaydPath)],
    targets: [.target(name: "TodoApp", dependencies: [.product(name: "Gateway", package: gatewayd)])]
)
'''

APP = '''import Gateway

struct TodoApp: Application {
    init(arguments: Arguments) {}

    func respond(to request: Request, with response: ResponseWriter) throws {
        try response.respond(headers: ["Content-Type": "text/plain"], body: "the user's own todo app\\n")
    }
}

@_cdecl("gateway_app") public func gatewayApp() -> UnsafeRawPointer { Gateway.export(TodoApp.self, name: "users-todo") }
'''


def swift():
    return shutil.which("swift") or next(
        (p for p in ["/opt/swift/usr/bin/swift"] if os.access(p, os.X_OK)), None)


def test_a_user_package_may_use_the_examples_names(gatewayd, workdir):
    if swift() is None:
        pytest.skip("no Swift toolchain")
    package = os.path.join(workdir, "todo")
    os.makedirs(os.path.join(package, "Sources", "TodoApp"))
    with open(os.path.join(package, "Package.swift"), "w") as f:
        f.write(MANIFEST.format(root=ROOT))
    with open(os.path.join(package, "Sources", "TodoApp", "TodoApp.swift"), "w") as f:
        f.write(APP)

    # The SDK's own dependencies resolve from SwiftPM's cache (no network on
    # the project's machines), as the root package's build does.
    build = [swift(), "build", "--package-path", package, "--product", "todo",
             "-Xswiftc", "-static-stdlib"]
    r = subprocess.run(build, capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stdout + r.stderr
    bin_path = subprocess.run(build[:2] + ["--package-path", package, "--show-bin-path"],
                              capture_output=True, text=True, check=True).stdout.strip()
    so = os.path.join(bin_path, "libtodo.so")
    assert os.path.isfile(so), r.stdout + r.stderr

    s = gatewayd(app=so, workers=1)
    status, body = get(s.port, "/todos")
    assert (status, body) == (200, b"the user's own todo app\n"), s.log()


def test_the_root_package_exports_only_the_daemon_and_the_sdk(workdir):
    if swift() is None:
        pytest.skip("no Swift toolchain")
    r = subprocess.run([swift(), "package", "--package-path", ROOT, "--scratch-path",
                        os.path.join(workdir, "scratch"), "dump-package"],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    manifest = json.loads(r.stdout)
    products = {p["name"]: list(p["type"]) for p in manifest["products"]}
    assert products == {"gatewayd": ["executable"], "gatewayctl": ["executable"],
                        "Gateway": ["library"], "GatewayTesting": ["library"],
                        "GatewayJSON": ["library"], "GatewayLogging": ["library"]}, products
    # No target of the root package lives under Examples/: the examples are
    # packages of their own.
    paths = [t.get("path") or "" for t in manifest["targets"]]
    assert not [p for p in paths if p.startswith("Examples")], paths
