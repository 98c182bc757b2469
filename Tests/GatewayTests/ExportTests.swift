#if canImport(Glibc)
import Glibc
#endif
import Gateway
import Testing

/// Drives exported apps through their descriptor, as gatewayd does: init,
/// call, shutdown. Serialized: an app module has one export, kept in SDK
/// globals.
@Suite(.serialized) struct ExportTests {
    struct Greeter: Application {
        nonisolated(unsafe) static var shutdowns = 0
        let greeting: String
        let worker: Int
        let generation: UInt32

        init(arguments: Arguments) throws {
            greeting = try arguments.require("greeting")
            worker = arguments.workerID
            generation = arguments.generation
            Gateway.log("booted with \(greeting)", level: .debug)
        }

        func respond(to request: Request, with response: ResponseWriter) throws {
            switch request.path {
            case "/fail": throw GatewayError.message("boom")
            case "/write-fails":
                try response.start(status: .ok)
                try response.write("x")
            default:
                try response.respond(body: "\(greeting) from worker \(worker), generation \(generation)")
            }
        }

        func shutdown() { Greeter.shutdowns += 1 }
    }

    struct Failing: Application {
        init(arguments: Arguments) throws { throw GatewayError.message(arguments["message"] ?? "") }
        func respond(to request: Request, with response: ResponseWriter) throws {}
    }

    struct Booted {
        var rc: Int32
        var error: String
        var appData: UnsafeMutableRawPointer?
        /// The error buffer past error_size: must stay untouched.
        var overflow: [UInt8]
    }

    /// Calls the descriptor's init like the server: app_args, worker fields,
    /// an error buffer of `errorSize` bytes (followed by guard bytes).
    func boot(_ descriptor: UnsafeRawPointer, args: [(String, String)] = [], errorSize: Int = 256,
              abiVersion: UInt32 = GATEWAY_ABI_VERSION, errorBuffer: Bool = true) -> Booted {
        let d = descriptor.assumingMemoryBound(to: gateway_app_descriptor.self)
        let strings = args.map { (strdup($0.0)!, strdup($0.1)!) }
        defer { for (n, v) in strings { free(n); free(v) } }
        let pairs = strings.map { gateway_pair(name: $0.0, value: $0.1) }
        let guardBytes = 16
        let buffer = UnsafeMutablePointer<CChar>.allocate(capacity: errorSize + guardBytes)
        defer { buffer.deallocate() }
        buffer.initialize(repeating: 0x7F, count: errorSize + guardBytes)
        return pairs.withUnsafeBufferPointer { argv in
            var boot = gateway_init(
                abi_version: abiVersion, threads: 1, api: UnsafePointer(FakeServer.api),
                args: argv.baseAddress, arg_count: argv.count, worker_id: 2, generation: 5,
                app_data: nil, error: errorBuffer ? buffer : nil, error_size: errorSize)
            let rc = d.pointee.`init`!(&boot)
            let message = errorSize > 0 ? String(cString: buffer) : ""
            let overflow = (errorSize..<errorSize + guardBytes).map { UInt8(bitPattern: buffer[$0]) }
            return Booted(rc: rc, error: message, appData: boot.app_data, overflow: overflow)
        }
    }

    func call(_ descriptor: UnsafeRawPointer, _ server: FakeServer) -> Int32 {
        descriptor.assumingMemoryBound(to: gateway_app_descriptor.self).pointee.call!(server.raw)
    }

    @Test func descriptorCarriesTheABIVersionAndName() throws {
        let descriptor = Gateway.export(Greeter.self, name: "greeter")
        let d = descriptor.assumingMemoryBound(to: gateway_app_descriptor.self).pointee
        #expect(d.abi_version == GATEWAY_ABI_VERSION)
        // Greeter is Sendable (its stored properties are): thread-safe
        #expect(d.flags == GATEWAY_APP_THREAD_SAFE)
        #expect(String(cString: try #require(d.name)) == "greeter")
        #expect(d.`init` != nil)
        #expect(d.call != nil)
        #expect(d.shutdown != nil)
        #expect(Gateway.export(Greeter.self, name: "greeter") == descriptor)
    }

    /// Not Sendable: a mutable class.
    final class Tally: Application {
        var count = 0
        init(arguments: Arguments) throws {}
        func respond(to request: Request, with response: ResponseWriter) throws {
            count += 1
            try response.respond(body: "\(count)")
        }
    }

    struct Immutable: Application, Sendable {
        let greeting = "hi"
        init(arguments: Arguments) throws {}
        func respond(to request: Request, with response: ResponseWriter) throws {
            try response.respond(body: greeting)
        }
    }

    func flags(_ descriptor: UnsafeRawPointer) -> UInt32 {
        descriptor.assumingMemoryBound(to: gateway_app_descriptor.self).pointee.flags
    }

    // threads > 1 only for what the compiler knows may be shared: the
    // Sendable overload of export is chosen for a Sendable type.
    @Test func aSendableAppIsThreadSafeAndOthersAreNot() {
        #expect(flags(Gateway.export(Immutable.self, name: "immutable")) == GATEWAY_APP_THREAD_SAFE)
        #expect(flags(Gateway.export(Tally.self, name: "tally")) == 0)
        #expect(flags(Gateway.export(name: "closure") { _ in App { _, response in try response.respond(body: "x") } }) == 0)
        #expect(flags(Gateway.export(name: "immutable") { try Immutable(arguments: $0) }) == GATEWAY_APP_THREAD_SAFE)
        #expect(flags(Gateway.export(Greeter.self, name: "greeter")) == GATEWAY_APP_THREAD_SAFE)
    }

    @Test func bootCallShutdown() throws {
        let descriptor = Gateway.export(Greeter.self, name: "greeter")
        BootLog.lines = []
        let booted = boot(descriptor, args: [("greeting", "hi"), ("other", "x")])
        #expect(booted.rc == 0)
        let appData = try #require(booted.appData)
        #expect(BootLog.lines.map(\.message) == ["booted with hi"])
        #expect(BootLog.lines.map(\.level) == [GATEWAY_LOG_DEBUG])

        let ok = FakeServer(environ: [("PATH_INFO", "/")], appData: appData)
        #expect(call(descriptor, ok) == GATEWAY_OK)
        #expect(ok.sentBody == "hi from worker 2, generation 5")

        let before = Greeter.shutdowns
        descriptor.assumingMemoryBound(to: gateway_app_descriptor.self).pointee.shutdown!(appData)
        #expect(Greeter.shutdowns == before + 1)
    }

    @Test func laterArgumentsOverrideEarlierOnes() throws {
        let descriptor = Gateway.export(Greeter.self, name: "greeter")
        let booted = boot(descriptor, args: [("greeting", "hi"), ("greeting", "hello")])
        let appData = try #require(booted.appData)
        let server = FakeServer(environ: [("PATH_INFO", "/")], appData: appData)
        #expect(call(descriptor, server) == GATEWAY_OK)
        #expect(server.sentBody.hasPrefix("hello from"))
    }

    // The SDK answers an app's error itself (ErrorResponse): a 500 it
    // writes, and GATEWAY_OK, so the response passes the app's filters.
    @Test func thrownErrorBecomesA500() throws {
        let descriptor = Gateway.export(Greeter.self, name: "greeter")
        let appData = try #require(boot(descriptor, args: [("greeting", "hi")]).appData)
        let server = FakeServer(environ: [("PATH_INFO", "/fail")], appData: appData)
        #expect(call(descriptor, server) == GATEWAY_OK)
        #expect(server.calls == [
            .start(status: "500 Internal Server Error", headers: [Pair("Content-Type", "text/plain; charset=utf-8")], flags: 0),
            .writeLast("Internal Server Error\n"),
        ])
        #expect(server.logs.map(\.message) == ["app error: boom"])
        #expect(server.logs.map(\.level) == [GATEWAY_LOG_ERROR])
    }

    @Test func failedWriteBecomesGatewayError() throws {
        let descriptor = Gateway.export(Greeter.self, name: "greeter")
        let appData = try #require(boot(descriptor, args: [("greeting", "hi")]).appData)
        let server = FakeServer(environ: [("PATH_INFO", "/write-fails")], appData: appData)
        server.writeFails = true
        #expect(call(descriptor, server) == GATEWAY_ERROR)
        #expect(server.logs.map(\.level) == [GATEWAY_LOG_INFO])
    }

    @Test func callWithoutBootIsAnError() {
        let descriptor = Gateway.export(Greeter.self, name: "greeter")
        #expect(call(descriptor, FakeServer()) == GATEWAY_ERROR)
    }

    @Test func initFailureCopiesTheMessage() {
        let descriptor = Gateway.export(Greeter.self, name: "greeter")
        let booted = boot(descriptor, args: [("other", "x")])
        #expect(booted.rc != 0)
        #expect(booted.appData == nil)
        #expect(booted.error == "missing app_arg \"greeting\"")
    }

    @Test func initFailureMessageIsTruncatedSafely() {
        let descriptor = Gateway.export(Failing.self, name: "failing")
        let booted = boot(descriptor, args: [("message", "a rather long explanation")], errorSize: 8)
        #expect(booted.rc != 0)
        #expect(booted.error == "a rathe")
        #expect(booted.overflow.allSatisfy { $0 == 0x7F })
    }

    @Test func truncationDoesNotSplitACharacter() {
        let descriptor = Gateway.export(Failing.self, name: "failing")
        // "é" is two bytes: 4 bytes hold one "é", one byte of the next and the NUL: keep "é".
        let booted = boot(descriptor, args: [("message", "ééé")], errorSize: 4)
        #expect(booted.error == "é")
        #expect(booted.overflow.allSatisfy { $0 == 0x7F })
    }

    @Test func initFailureWithoutErrorBuffer() {
        let descriptor = Gateway.export(Failing.self, name: "failing")
        #expect(boot(descriptor, errorSize: 0).rc != 0)
        #expect(boot(descriptor, errorSize: 16, errorBuffer: false).rc != 0)
        let one = boot(descriptor, args: [("message", "xyz")], errorSize: 1)
        #expect(one.error == "")
        #expect(one.overflow.allSatisfy { $0 == 0x7F })
    }

    @Test func initRefusesAnotherABIVersion() {
        let descriptor = Gateway.export(Greeter.self, name: "greeter")
        let booted = boot(descriptor, args: [("greeting", "hi")], abiVersion: GATEWAY_ABI_VERSION + 1)
        #expect(booted.rc != 0)
        #expect(booted.error.contains("ABI"))
    }

    @Test func closureAppWithMiddleware() throws {
        let descriptor = Gateway.export(name: "echo") { arguments in
            App { request, response in
                try response.respond(headers: ["Content-Type": request.contentType ?? "application/octet-stream"],
                                     body: try request.readAll())
            }.with(Mount(arguments["mount"] ?? "/", App { _, response in try response.respond(body: "mounted") }))
        }
        let d = descriptor.assumingMemoryBound(to: gateway_app_descriptor.self).pointee
        #expect(String(cString: d.name!) == "echo")
        let appData = try #require(boot(descriptor, args: [("mount", "/m")]).appData)

        let echo = FakeServer(environ: [("PATH_INFO", "/echo"), ("CONTENT_TYPE", "text/plain")],
                              body: "ping", appData: appData)
        #expect(call(descriptor, echo) == GATEWAY_OK)
        #expect(echo.calls == [
            .start(status: "200 OK", headers: [Pair("Content-Type", "text/plain")], flags: 0),
            .writeLast("ping"),
        ])

        let mounted = FakeServer(environ: [("PATH_INFO", "/m/x")], appData: appData)
        #expect(call(descriptor, mounted) == GATEWAY_OK)
        #expect(mounted.sentBody == "mounted")
        d.shutdown!(appData)
    }
}
