/// What a thrown error becomes. One decision for the whole SDK, used where
/// the error is caught: by each link of a middleware chain (with the writer
/// that link was given, so the outer middlewares' headers stay; not for the
/// inside of an `ErrorCatchingMiddleware`) and, for an app without
/// middleware, at the top.
enum ErrorResponse {
    /// The answer to `error`.
    enum Answer {
        /// Write this response.
        case respond(any HTTPResponseError)
        /// Write nothing: the server answers itself (a refused body: 413,
        /// 400, 408; a timeout: 504) or nobody is listening (client gone).
        /// The error goes on up, and the call returns GATEWAY_ERROR.
        case leaveToServer
    }

    static func answer(to error: Error) -> Answer {
        if let error = error as? any HTTPResponseError { return .respond(error) }
        switch error as? GatewayError {
        case .bodyTooLarge(let limit)?:
            return .respond(HTTPError(.payloadTooLarge, "the request body is larger than \(limit) bytes"))
        case .clientGone?, .timedOut?, .requestBodyTooLarge?, .malformedRequestBody?, .requestBodyTimedOut?,
             .readFailed?, .writeFailed?, .sendFileFailed?:
            return .leaveToServer
        default:
            return .respond(HTTPError(.internalServerError))
        }
    }

    /// Answers `error` on `response` when it can: returns normally when the
    /// error response went out, rethrows when the error is the server's to
    /// answer, or when the response had already started (then wrapped in
    /// `Unanswered`, so outer links do not try again).
    static func handle(_ error: Error, request: Request, response: ResponseWriter) throws {
        if error is Unanswered { throw error }
        guard case .respond(let answer) = answer(to: error) else { throw error }
        do {
            try answer.write(to: response)
        } catch _ {
            throw Unanswered(error: error)
        }
        if answer.status.code >= 500 {
            request.log("app error: \(error)", level: .error)
        }
    }

    /// An error whose response could not be written (the head was already
    /// sent): the call returns GATEWAY_ERROR, the server aborts the response.
    struct Unanswered: Error, CustomStringConvertible {
        let error: Error
        var description: String { "\(error)" }
    }
}
