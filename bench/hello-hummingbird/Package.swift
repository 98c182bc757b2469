// swift-tools-version:6.0
// The Hummingbird 2 reference server for `make bench`: the same hello world
// (and the 64 KB and echo routes) as the other servers. It is built on its
// own, outside gatewayd's package, so the product never depends on it:
//   swift build -c release --package-path bench/hello-hummingbird --scratch-path .build-bench
import PackageDescription

let package = Package(
    name: "hello-hummingbird",
    platforms: [.macOS(.v14)],
    dependencies: [
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.0.0"),
    ],
    targets: [
        .executableTarget(
            name: "HelloHummingbird",
            dependencies: [.product(name: "Hummingbird", package: "hummingbird")]
        ),
    ]
)
