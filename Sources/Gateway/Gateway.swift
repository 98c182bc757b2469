// The Swift SDK for gatewayd apps.
//
// An app is a type conforming to `Application` (or a closure wrapped in
// `App`), exported in one line:
//
//     @_cdecl("gateway_app") public func gatewayApp() -> UnsafeRawPointer {
//         Gateway.export(Hello.self, name: "hello")
//     }
//
// The SDK turns the C ABI of gateway.h into Swift: `Request` reads the
// environ, body and errors stream; `ResponseWriter` starts and writes the
// response; a Swift `throw` becomes GATEWAY_ERROR. docs/swift-sdk.md is the
// guide. The hot path (StaticResponse, StaticHeaders, the raw-pointer
// overloads) allocates nothing per request.

// Apps that use the raw-pointer API see gateway_pair & co. without importing
// CGateway themselves.
@_exported import CGateway

/// A level of the server's error log (the errors stream, wsgi.errors).
public enum LogLevel: Int32, Sendable, CaseIterable {
    case debug = 0    // GATEWAY_LOG_DEBUG
    case info = 1     // GATEWAY_LOG_INFO
    case warning = 2  // GATEWAY_LOG_WARNING
    case error = 3    // GATEWAY_LOG_ERROR
}

/// Writes `message` to the server's error log outside of a request (during
/// `init(arguments:)`, in `shutdown()`). Inside a request prefer
/// `request.log(_:level:)`, which ties the line to the request. Before the
/// server booted the app (no api yet) the message goes to stderr.
public func log(_ message: String, level: LogLevel = .info) {
    Exporter.log(message, level: level)
}
