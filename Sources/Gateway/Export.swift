#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Exports an `Application` type as the app of this shared object: returns
/// the descriptor `gateway_app` must return. One line in the app module:
///
///     @_cdecl("gateway_app") public func gatewayApp() -> UnsafeRawPointer {
///         Gateway.export(Hello.self, name: "hello")
///     }
///
/// The server then calls `A(arguments:)` once per worker (init), `respond`
/// once per request (call) and `shutdown()` before the worker exits.
///
/// An app that is not `Sendable` is called from one thread at a time: it
/// boots only in workers with `threads = 1`, and a worker with more refuses
/// it, saying why. A `Sendable` one takes the overload below.
public func export<A: Application>(_ type: A.Type, name: String) -> UnsafeRawPointer {
    Exporter.export(name: name, threadSafe: false) { try A(arguments: $0) }
}

/// Exports a `Sendable` app: the compiler checked that its instance may be
/// used from several threads, so its descriptor says so
/// (GATEWAY_APP_THREAD_SAFE) and it boots with `threads > 1` too, called
/// from that many threads at once. Chosen over the one above whenever the
/// type is `Sendable`: the call is the same.
public func export<A: Application & Sendable>(_ type: A.Type, name: String) -> UnsafeRawPointer {
    Exporter.export(name: name, threadSafe: true) { try A(arguments: $0) }
}

/// Exports the responder `factory` makes, once per worker, from the
/// app_args: for closures (`App`) and apps wrapped in middleware.
///
///     @_cdecl("gateway_app") public func gatewayApp() -> UnsafeRawPointer {
///         Gateway.export(name: "site") { try Site(arguments: $0).with(RequestID()) }
///     }
public func export<R: Responder>(name: String, _ factory: @escaping (Arguments) throws -> R) -> UnsafeRawPointer {
    Exporter.export(name: name, threadSafe: false) { try factory($0) }
}

/// The same for a `Sendable` responder: thread-safe, as `export(_:name:)`
/// of a `Sendable` app.
public func export<R: Responder & Sendable>(name: String, _ factory: @escaping (Arguments) throws -> R) -> UnsafeRawPointer {
    Exporter.export(name: name, threadSafe: true) { try factory($0) }
}

/// The app instance of a booted worker, behind gateway_init.app_data. The
/// C entry points cannot capture the generic app type, so they reach the
/// app through this box as an existential.
final class AppBox {
    let responder: any Responder

    init(_ responder: any Responder) { self.responder = responder }

    @inline(__always)
    func call(_ raw: UnsafeMutablePointer<gateway_request>) -> Int32 {
        do {
            try responder.respond(to: Request(raw), with: ResponseWriter(raw))
            return GATEWAY_OK
        } catch {
            return Exporter.answer(error, raw)
        }
    }
}

/// The descriptor and the C entry points behind `export`. Touched at export
/// and boot only: the per-request path goes through app_data.
enum Exporter {
    nonisolated(unsafe) static var factory: ((Arguments) throws -> any Responder)?
    nonisolated(unsafe) static var descriptor: UnsafeMutablePointer<gateway_app_descriptor>?
    /// The server's api, kept from init for `log` outside requests.
    nonisolated(unsafe) static var api: UnsafePointer<gateway_api>?

    static func export(name: String, threadSafe: Bool,
                       _ factory: @escaping (Arguments) throws -> any Responder) -> UnsafeRawPointer {
        self.factory = factory
        let descriptor = self.descriptor ?? {
            let fresh = UnsafeMutablePointer<gateway_app_descriptor>.allocate(capacity: 1)
            fresh.initialize(to: gateway_app_descriptor(
                abi_version: GATEWAY_ABI_VERSION, flags: 0, name: nil,
                init: Exporter.boot, call: Exporter.call, shutdown: Exporter.shutdown))
            self.descriptor = fresh
            return fresh
        }()
        descriptor.pointee.flags = threadSafe ? GATEWAY_APP_THREAD_SAFE : 0
        if descriptor.pointee.name.map({ String(cString: $0) != name }) ?? true {
            // A renamed export (only tests do that) leaks the old name: it may still be in use.
            descriptor.pointee.name = UnsafePointer(strdup(name))
        }
        return UnsafeRawPointer(descriptor)
    }

    static let boot: @convention(c) (UnsafeMutablePointer<gateway_init>?) -> Int32 = { boot in
        guard let boot else { return 1 }
        do {
            let responder = try Exporter.makeResponder(boot.pointee)
            boot.pointee.app_data = Unmanaged.passRetained(AppBox(responder)).toOpaque()
            return 0
        } catch {
            CStrings.copy(String(describing: error), into: boot.pointee.error, size: boot.pointee.error_size)
            return 1
        }
    }

    static func makeResponder(_ boot: gateway_init) throws -> any Responder {
        guard boot.abi_version == GATEWAY_ABI_VERSION else {
            throw GatewayError.abiMismatch(server: boot.abi_version, sdk: GATEWAY_ABI_VERSION)
        }
        // The first release of ABI v1 ends at write_last; later entries
        // (last_error) are checked where they are used.
        let base = MemoryLayout<gateway_api>.offset(of: \.last_error)!
        guard let api = boot.api, Int(api.pointee.size) >= base else {
            throw GatewayError.message("the server's gateway_api is smaller than ABI v1's (\(boot.api?.pointee.size ?? 0) < \(base) bytes)")
        }
        Exporter.api = api
        guard let factory else { throw GatewayError.message("no app exported") }
        return try factory(Arguments(boot))
    }

    static let call: @convention(c) (UnsafeMutablePointer<gateway_request>?) -> Int32 = { raw in
        guard let raw, let data = raw.pointee.app_data else { return GATEWAY_ERROR }
        return Unmanaged<AppBox>.fromOpaque(data)._withUnsafeGuaranteedRef { $0.call(raw) }
    }

    static let shutdown: @convention(c) (UnsafeMutableRawPointer?) -> Void = { data in
        guard let data else { return }
        Unmanaged<AppBox>.fromOpaque(data).takeRetainedValue().responder.shutdown()
    }

    /// Answers an error that reached the top (see `ErrorResponse`); logs
    /// it when it could not be answered.
    @inline(never)
    static func answer(_ error: Error, _ raw: UnsafeMutablePointer<gateway_request>) -> Int32 {
        do {
            try ErrorResponse.handle(error, request: Request(raw), response: ResponseWriter(raw))
            return GATEWAY_OK
        } catch {
            report((error as? ErrorResponse.Unanswered)?.error ?? error, raw)
            return GATEWAY_ERROR
        }
    }

    /// Logs an error the app threw. A client that went away, a body the
    /// server refused (it answers 4xx) and a timeout (it answered 504) are
    /// not the app's fault: info; anything else is the app's: error.
    static func report(_ error: Error, _ raw: UnsafeMutablePointer<gateway_request>) {
        let level: LogLevel
        switch error as? GatewayError {
        case .writeFailed?, .sendFileFailed?, .readFailed?, .clientGone?, .requestBodyTooLarge?,
             .malformedRequestBody?, .requestBodyTimedOut?, .timedOut?: level = .info
        default: level = .error
        }
        Request(raw).log("app error: \(error)", level: level)
    }

    static func log(_ message: String, level: LogLevel) {
        guard let api, let log = api.pointee.log else {
            // write(2) rather than fputs(stderr): the C global `stderr` is
            // shared mutable state that Swift 6 mode refuses.
            let line = "[\(level)] \(message)\n"
            _ = line.withCString { write(2, $0, strlen($0)) }
            return
        }
        message.withCString { log(nil, level.rawValue, $0) }
    }
}
