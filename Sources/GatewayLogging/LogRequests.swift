import Gateway
import Logging

/// Logs one line per request when its head goes out: method, path, status
/// (and the request ID when `RequestID` runs before it), at `level`; 5xx
/// responses at error. A line below the request logger's level
/// (`GatewayLogHandler.defaultLogLevel`) costs a comparison: the filter
/// reads the status from the C head, and builds the logger only to log.
///
///     Todo(arguments: args).with(RequestID(), LogRequests())
public struct LogRequests: Middleware {
    public let level: Logger.Level

    public init(level: Logger.Level = .info) { self.level = level }

    public func respond(to request: Request, with response: ResponseWriter, next: some Responder) throws {
        let filter = StatusLogFilter(next: response, request: request, level: level)
        try next.respond(to: request, with: ResponseWriter(filter: filter))
    }
}

/// Logs the status of each head that passes, then forwards it unchanged.
final class StatusLogFilter: ResponseFilter {
    let request: Request
    let level: Logger.Level

    init(next: ResponseWriter, request: Request, level: Logger.Level) {
        self.request = request
        self.level = level
        super.init(next: next)
    }

    override func start(status: UnsafePointer<CChar>, headers: UnsafeBufferPointer<gateway_pair>,
                        replacing: Bool) throws {
        var code = 0
        for index in 0..<3 {
            let digit = Int(status[index]) - 0x30
            guard digit >= 0 && digit <= 9 else { code = 0; break }
            code = code * 10 + digit
        }
        let level = code >= 500 ? .error : self.level
        if level >= GatewayLogHandler.defaultLogLevel {
            request.logger.log(level: level, "response", metadata: ["status": "\(code)"])
        }
        try next.start(status: status, headers: headers, replacing: replacing)
    }
}
