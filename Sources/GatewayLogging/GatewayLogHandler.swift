import Gateway
import Logging

/// A swift-log `LogHandler` that writes to gatewayd's error log (api->log):
/// one line per event, the metadata after the message as `key=value`,
/// sorted by key. Tied to a request (`request.logger`), the line is the
/// request's; otherwise (`LoggingSystem.bootstrap(GatewayLogHandler.init)`,
/// for the libraries an app uses) it is the worker's.
///
///     LoggingSystem.bootstrap(GatewayLogHandler.init)   // in init(arguments:), once
///     request.logger.info("created", metadata: ["todo": "\(id)"])
///     // error log: ... created method=POST path=/todos request_id=3f9c...-1a todo=7
///
/// The server drops lines below its log_level; this handler's `logLevel`
/// (default `GatewayLogHandler.defaultLogLevel`, info) spares building
/// them. trace and debug go out as debug, notice as info, critical as error.
public struct GatewayLogHandler: LogHandler {
    public var metadata: Logger.Metadata = [:]
    public var logLevel: Logger.Level = GatewayLogHandler.defaultLogLevel
    public let label: String
    // The request the lines belong to, nil for the worker's. Valid only
    // while that request is served: a request's logger must not outlive it.
    nonisolated(unsafe) let request: Request?
    /// Whether lines get the request's method, path and ID (read when a
    /// line is written, so a logger costs nothing until it logs).
    let requestMetadata: Bool

    /// The level new handlers start at (`request.logger`'s included).
    /// The server cannot tell an app its log_level: an app that runs the
    /// server at warning sets this to `.warning` in `init(arguments:)`,
    /// and request loggers then skip the info lines the server would drop
    /// before building them. One per worker process, set before serving.
    nonisolated(unsafe) public static var defaultLogLevel: Logger.Level = .info

    /// A handler for the worker's lines (outside requests), as
    /// `LoggingSystem.bootstrap` wants it.
    public init(label: String) {
        self.label = label
        self.request = nil
        self.requestMetadata = false
    }

    /// A handler whose lines belong to `request`.
    public init(label: String, request: Request) {
        self.init(label: label, request: request, requestMetadata: false)
    }

    init(label: String, request: Request, requestMetadata: Bool) {
        self.label = label
        self.request = request
        self.requestMetadata = requestMetadata
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    // swift-log 1.16's entry point (LogEvent); an error attached to the
    // event is written as the `error` key.
    public func log(event: LogEvent) {
        var merged = metadata
        if requestMetadata, let request {
            merged["method"] = merged["method"] ?? "\(request.method)"
            merged["path"] = merged["path"] ?? "\(request.scriptName + request.path)"
            if merged["request_id"] == nil, let id = request.header("X-Request-Id") { merged["request_id"] = "\(id)" }
        }
        if let explicit = event.metadata { merged.merge(explicit) { $1 } }
        if let error = event.error { merged["error"] = "\(error)" }
        write(level: event.level, message: event.message, metadata: merged)
    }

    func write(level: Logger.Level, message: Logger.Message, metadata merged: Logger.Metadata) {
        var text = message.description
        for (key, value) in merged.sorted(by: { $0.key < $1.key }) {
            text += " \(key)=\(value)"
        }
        let level = GatewayLogHandler.level(level)
        if let request {
            request.log(text, level: level)
        } else {
            Gateway.log(text, level: level)
        }
    }

    /// The swift-log level of a name as configs write it ("warning",
    /// "info"...; case ignored), nil for another word.
    public static func level(named name: String) -> Logger.Level? {
        Logger.Level(rawValue: name.lowercased())
    }

    /// The error-log level a swift-log level is written at.
    public static func level(_ level: Logger.Level) -> LogLevel {
        switch level {
        case .trace, .debug: return .debug
        case .info, .notice: return .info
        case .warning: return .warning
        case .error, .critical: return .error
        }
    }
}

extension Request {
    /// A `Logger` whose lines go to the error log as this request's, with
    /// its method, path and request ID (`X-Request-Id`, set by the
    /// `RequestID` middleware) as metadata, added to each line as it is
    /// written. Valid while the request is.
    public var logger: Logger {
        Logger(label: "gateway.request") { GatewayLogHandler(label: $0, request: self, requestMetadata: true) }
    }
}
