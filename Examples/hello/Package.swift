// swift-tools-version:5.10
// The Swift hello app (the benchmark app) as an app author's package: it
// depends on this repository's root package by path and takes only the SDK
// from it (docs/swift-sdk.md, "Building the shared object"). The Makefile
// builds it into build/apps/hello.so:
//   swift build -c release --package-path Examples/hello --scratch-path .build-apps/hello \
//       --product hello -Xswiftc -static-stdlib
import PackageDescription
import Foundation

// SwiftPM names a path dependency after its folder (gatewayd, gatewayd-main,
// a worktree): take the root's name from its path.
let gatewayd = URL(fileURLWithPath: Context.packageDirectory)
    .appendingPathComponent("../..").standardized.lastPathComponent

let package = Package(
    name: "hello",
    products: [.library(name: "hello", type: .dynamic, targets: ["HelloApp"])],
    dependencies: [.package(path: "../..")],
    targets: [
        .target(name: "HelloApp", dependencies: [.product(name: "Gateway", package: gatewayd)]),
    ]
)
