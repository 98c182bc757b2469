// swift-tools-version:5.10
// The todo JSON API as an app author's package: it depends on this
// repository's root package by path and takes only the SDK's products from
// it (docs/swift-sdk.md, "Building the shared object"). The Makefile builds
// it into build/apps/todo.so and runs its tests in `make unit`:
//   swift build -c release --package-path Examples/todo --scratch-path .build-apps/todo \
//       --product todo -Xswiftc -static-stdlib
//   swift test --package-path Examples/todo --scratch-path .build-apps/todo
import PackageDescription
import Foundation

// SwiftPM names a path dependency after its folder (gatewayd, gatewayd-main,
// a worktree): take the root's name from its path.
let gatewayd = URL(fileURLWithPath: Context.packageDirectory)
    .appendingPathComponent("../..").standardized.lastPathComponent

let package = Package(
    name: "todo",
    products: [.library(name: "todo", type: .dynamic, targets: ["TodoApp"])],
    dependencies: [.package(path: "../..")],
    targets: [
        // The router, JSON, logging and middleware.
        .target(name: "TodoApp", dependencies: [
            .product(name: "Gateway", package: gatewayd),
            .product(name: "GatewayJSON", package: gatewayd),
            .product(name: "GatewayLogging", package: gatewayd),
        ]),
        // Tested on GatewayTesting: no gatewayd needed.
        .testTarget(name: "TodoAppTests", dependencies: [
            "TodoApp", .product(name: "GatewayTesting", package: gatewayd),
        ]),
    ]
)
