import Gateway
import GatewayLogging
import GatewayTesting
import Logging
import Testing

@Suite struct GatewayLoggingTests {
    @Test func requestLoggerWritesToTheErrorLogWithMetadata() {
        let app = App { request, response in
            var logger = request.logger
            logger.logLevel = .debug
            logger.debug("looking", metadata: ["todo": "7"])
            logger.warning("odd")
            logger.trace("dropped below the handler's level")
            try response.respond(body: "")
        }.with(RequestID(), LogRequests())
        let response = TestServer(app).execute("GET", "/todos/7", headers: ["X-Request-Id": "abc"])
        #expect(response.logs.map(\.level) == [.debug, .warning, .info])
        #expect(response.logs.map(\.message) == [
            "looking method=GET path=/todos/7 request_id=abc todo=7",
            "odd method=GET path=/todos/7 request_id=abc",
            "response method=GET path=/todos/7 request_id=abc status=200",
        ])
    }

    @Test func levels() {
        #expect(Logger.Level.allCases.map(GatewayLogHandler.level) == [.debug, .debug, .info, .info, .warning, .error, .error])
    }
}
