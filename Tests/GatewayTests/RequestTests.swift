import Gateway
import Testing

@Suite struct RequestTests {
    let environ = [
        ("REQUEST_METHOD", "POST"),
        ("SCRIPT_NAME", ""),
        ("PATH_INFO", "/users/42"),
        ("QUERY_STRING", "a=1&b=%2F"),
        ("SERVER_PROTOCOL", "HTTP/1.1"),
        ("REMOTE_ADDR", "127.0.0.1"),
        ("CONTENT_TYPE", "application/json"),
        ("CONTENT_LENGTH", "11"),
        ("HTTP_X_FOO", "one, two"),
        ("HTTP_USER_AGENT", "curl/8"),
        ("gateway.worker_id", "3"),
    ]

    @Test func namedValues() {
        let server = FakeServer(environ: environ)
        let request = server.request
        #expect(request.method == "POST")
        #expect(request.path == "/users/42")
        #expect(request.scriptName == "")
        #expect(request.query == "a=1&b=%2F")
        #expect(request.serverProtocol == "HTTP/1.1")
        #expect(request.remoteAddress == "127.0.0.1")
        #expect(request.contentType == "application/json")
        #expect(request.contentLength == 11)
    }

    @Test func subscriptByKey() {
        let request = FakeServer(environ: environ).request
        #expect(request["gateway.worker_id"] == "3")
        #expect(request["HTTP_X_FOO"] == "one, two")
        #expect(request["NOT_THERE"] == nil)
    }

    @Test func cStringNeedsNoSwiftString() {
        let request = FakeServer(environ: environ).request
        let value = request.cString("PATH_INFO")
        #expect(value.map { String(cString: $0) } == "/users/42")
        #expect(request.cString("NOPE") == nil)
    }

    @Test func headersMapToCGIKeys() {
        let request = FakeServer(environ: environ).request
        #expect(request.header("X-Foo") == "one, two")
        #expect(request.header("x-foo") == "one, two")
        #expect(request.header("User-Agent") == "curl/8")
        #expect(request.header("Content-Type") == "application/json")
        #expect(request.header("content-length") == "11")
        #expect(request.header("X-Missing") == nil)
    }

    @Test func iteratesAllEntriesInOrder() {
        let request = FakeServer(environ: environ).request
        let entries = request.environ.map { "\($0.key)=\($0.value)" }
        #expect(entries == environ.map { "\($0.0)=\($0.1)" })
    }

    @Test func absentNamedValuesHaveDefaults() {
        let request = FakeServer(environ: []).request
        #expect(request.method == "")
        #expect(request.path == "")
        #expect(request.query == "")
        #expect(request.contentLength == nil)
        #expect(Array(request.environ).isEmpty)
    }

    @Test func editsAreSeenByTheCopyOnly() {
        let server = FakeServer(environ: environ)
        let original = server.request
        var edited = original
        edited.path = "/42"
        edited.scriptName = "/users"
        edited["HTTP_X_FOO"] = nil
        edited["gateway.extra"] = "yes"
        #expect(edited.path == "/42")
        #expect(edited.scriptName == "/users")
        #expect(edited.header("X-Foo") == nil)
        #expect(edited["gateway.extra"] == "yes")
        #expect(edited.cString("PATH_INFO").map { String(cString: $0) } == "/42")
        // The original and the server are untouched.
        #expect(original.path == "/users/42")
        #expect(original.header("X-Foo") == "one, two")
        #expect(original["gateway.extra"] == nil)
        #expect(server.getenv("PATH_INFO").map { String(cString: $0) } == "/users/42")

        var twice = edited
        twice.path = "/other"
        #expect(edited.path == "/42")
        #expect(twice.path == "/other")
    }

    @Test func iterationReflectsEdits() {
        var request = FakeServer(environ: [("A", "1"), ("B", "2"), ("C", "3")]).request
        request["B"] = nil
        request["C"] = "three"
        request["D"] = "4"
        let entries = request.environ.map { "\($0.key)=\($0.value)" }
        #expect(entries == ["A=1", "C=three", "D=4"])
    }

    @Test func logWritesToTheErrorsStream() {
        let server = FakeServer()
        server.request.log("something odd", level: .warning)
        server.request.log("fyi")
        #expect(server.logs.map(\.message) == ["something odd", "fyi"])
        #expect(server.logs.map(\.level) == [GATEWAY_LOG_WARNING, GATEWAY_LOG_INFO])
    }

    @Test func logLevelsMatchTheHeader() {
        #expect(LogLevel.debug.rawValue == GATEWAY_LOG_DEBUG)
        #expect(LogLevel.info.rawValue == GATEWAY_LOG_INFO)
        #expect(LogLevel.warning.rawValue == GATEWAY_LOG_WARNING)
        #expect(LogLevel.error.rawValue == GATEWAY_LOG_ERROR)
    }
}

@Suite struct BodyTests {
    @Test func readIntoBufferInChunks() throws {
        let server = FakeServer(body: "hello world")
        server.readChunk = 4
        var buffer = [UInt8](repeating: 0, count: 100)
        var got: [UInt8] = []
        while true {
            let n = try server.request.read(into: &buffer)
            if n == 0 { break }
            #expect(n <= 4)
            got += buffer[..<n]
        }
        #expect(String(decoding: got, as: UTF8.self) == "hello world")
        #expect(buffer.count == 100)
    }

    @Test func readIntoRawBuffer() throws {
        let server = FakeServer(body: "abc")
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 2, alignment: 1)
        defer { buffer.deallocate() }
        #expect(try server.request.read(into: buffer) == 2)
        #expect(Array(buffer) == Array("ab".utf8))
        #expect(try server.request.read(into: buffer) == 1)
        #expect(try server.request.read(into: buffer) == 0)
    }

    @Test func readAll() throws {
        let text = String(repeating: "0123456789", count: 20_000)
        let server = FakeServer(body: text)
        server.readChunk = 7_000
        #expect(try server.request.readText() == text)
        #expect(try server.request.readAll().isEmpty)
    }

    @Test func readAllUpToTheLimitExactly() throws {
        let server = FakeServer(body: "12345")
        #expect(try server.request.readAll(limit: 5) == Array("12345".utf8))
    }

    @Test func readAllOverTheLimitThrows() {
        let server = FakeServer(body: "123456")
        #expect(throws: GatewayError.bodyTooLarge(limit: 5)) { try server.request.readAll(limit: 5) }
    }

    @Test func readFailureThrows() {
        let server = FakeServer(body: "hello world")
        server.readFailsAt = 6
        #expect(throws: GatewayError.readFailed) { try server.request.readAll() }
    }

    @Test func readFailureCarriesTheServersReason() {
        let reasons: [(Int32, GatewayError)] = [
            (GATEWAY_E_BODY_TOO_LARGE, .requestBodyTooLarge), (GATEWAY_E_BAD_BODY, .malformedRequestBody),
            (GATEWAY_E_BODY_TIMEOUT, .requestBodyTimedOut), (GATEWAY_E_CLIENT_GONE, .clientGone),
        ]
        for (code, error) in reasons {
            let server = FakeServer(body: "hello world")
            server.readFailsAt = 6
            server.lastError = code
            #expect(throws: error) { try server.request.readAll() }
        }
    }
}
