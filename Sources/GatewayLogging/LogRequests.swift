import Gateway
import Logging

/// Logs one line per request when its head goes out: method, path, status
/// (and the request ID when `RequestID` runs before it), at `level`; 5xx
/// responses at error.
///
///     Todo(arguments: args).with(RequestID(), LogRequests())
public struct LogRequests: Middleware {
    public let level: Logger.Level

    public init(level: Logger.Level = .info) { self.level = level }

    public func respond(to request: Request, with response: ResponseWriter, next: some Responder) throws {
        let logger = request.logger
        let level = self.level
        try next.respond(to: request, with: response.filteringHead { head in
            logger.log(level: head.status.code >= 500 ? .error : level, "response",
                       metadata: ["status": "\(head.status.code)"])
        })
    }
}
