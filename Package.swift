// swift-tools-version:5.10
import PackageDescription

// The daemon (gatewayd, gatewayctl, ServerCore, WorkerPool, AppLoader), the
// interface header (CGateway) and the Swift SDK for apps (Gateway,
// GatewayTesting, GatewayJSON, GatewayLogging). An app's package depends on
// this one and may name its targets and products anything: so the products
// are the daemon's executables and the SDK's libraries, nothing else. The
// Swift example apps are packages of their own (Examples/hello,
// Examples/todo, depending on this one by path, as an app author's does);
// the C ones are built by the Makefile with cc.
let package = Package(
    name: "gatewayd",
    products: [
        .executable(name: "gatewayd", targets: ["gatewayd"]),
        .executable(name: "gatewayctl", targets: ["gatewayctl"]),
        .library(name: "Gateway", targets: ["Gateway"]),
        // Runs an app in process against an in-memory server, for its tests.
        .library(name: "GatewayTesting", targets: ["GatewayTesting"]),
        // Codable bodies and responses, on FoundationEssentials (about 11 MB
        // more in an app's .so; the Gateway library stays free of Foundation).
        .library(name: "GatewayJSON", targets: ["GatewayJSON"]),
        // swift-log to the server's error log, with the request as metadata.
        .library(name: "GatewayLogging", targets: ["GatewayLogging"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
        .package(url: "https://github.com/apple/swift-system", from: "1.4.0"),
        .package(url: "https://github.com/LebJe/TOMLKit", from: "0.6.0"),
    ],
    targets: [
        // The gateway interface: gateway.h, the C ABI between server and app.
        .target(name: "CGateway"),
        // Shims for what Swift cannot import from libc (macros, variadic calls).
        .target(name: "CSupport"),
        // libsystemd (sd_notify, sd_listen_fds), loaded with dlopen when the
        // environment asks for it: not linked (the wheels' manylinux tag).
        .target(name: "CSystemd"),
        // The bytes on the wire, on their own: the HTTP/1.1 head parser and
        // chunked decoder, the uwsgi/SCGI/FastCGI decoders and records, the
        // status phrases, the server's own responses and the response
        // encoder. Depends on the interface header alone; used by the
        // worker (ServerCore), GatewayTesting and the fuzz targets.
        .target(name: "GatewayWire", dependencies: ["CGateway"], swiftSettings: [
            // Single-threaded per request, state not shared: see ServerCore.
            // Cross-module optimization: the worker specializes the encoder
            // for its output and inlines the parser's helpers, as it did when
            // they were in its own module (bench/callgrind.sh).
            .unsafeFlags(["-enforce-exclusivity=unchecked", "-cross-module-optimization"],
                         .when(configuration: .release)),
        ]),
        .target(name: "ServerCore", dependencies: [
            "CGateway", "CSupport", "GatewayWire",
            .product(name: "Logging", package: "swift-log"),
            .product(name: "SystemPackage", package: "swift-system"),
            .product(name: "TOMLKit", package: "TOMLKit"),
        ], swiftSettings: [
            // The request loop is single-threaded and its state is not shared:
            // the runtime's dynamic exclusivity checks cost ~18% of the
            // worker's user-space instructions per request (bench/callgrind.sh).
            .unsafeFlags(["-enforce-exclusivity=unchecked"], .when(configuration: .release)),
        ]),
        .target(name: "AppLoader", dependencies: ["CGateway", "ServerCore"]),
        .target(name: "WorkerPool", dependencies: [
            "ServerCore", "AppLoader", "CSupport", "CSystemd",
            .product(name: "Logging", package: "swift-log"),
        ]),
        .executableTarget(name: "gatewayd", dependencies: [
            "WorkerPool", "ServerCore",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
        // The admin listener's client (status, watch, reload, scale, stop).
        .executableTarget(name: "gatewayctl", dependencies: [
            "ServerCore",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
        // The Swift SDK: write an app as a Swift type, export it in one line.
        .target(name: "Gateway", dependencies: ["CGateway", "GatewayWire"]),
        .target(name: "GatewayTesting", dependencies: ["Gateway", "GatewayWire"]),
        .target(name: "GatewayJSON", dependencies: ["Gateway"]),
        .target(name: "GatewayLogging", dependencies: [
            "Gateway", .product(name: "Logging", package: "swift-log"),
        ]),

        .testTarget(name: "GatewayWireTests", dependencies: ["GatewayWire", "CSupport"]),
        .testTarget(name: "ServerCoreTests", dependencies: ["ServerCore"]),
        .testTarget(name: "WorkerPoolTests", dependencies: ["WorkerPool"]),
        .testTarget(name: "GatewayTests", dependencies: ["Gateway", "GatewayTesting"]),
        .testTarget(name: "GatewayJSONTests", dependencies: ["GatewayJSON", "GatewayTesting"]),
        .testTarget(name: "GatewayLoggingTests", dependencies: [
            "GatewayLogging", "GatewayTesting", .product(name: "Logging", package: "swift-log"),
        ]),
    ]
)
