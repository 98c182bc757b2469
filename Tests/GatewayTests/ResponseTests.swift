import Gateway
import Testing

typealias Pair = FakeServer.Pair

@Suite struct ResponseTests {
    @Test func staticResponseCalls() throws {
        let server = FakeServer()
        let hello = StaticResponse(status: .ok, headers: ["Content-Type": "text/plain"], body: "Hello, World!")
        try server.response.respond(hello)
        #expect(server.calls == [
            .start(status: "200 OK", headers: [Pair("Content-Type", "text/plain")], flags: 0),
            .writeLast("Hello, World!"),
        ])
        #expect(hello.body.count == 13)
        #expect(hello.head.status == .ok)
        #expect(hello.head.headers["content-type"] == "text/plain")
    }

    @Test func staticHeadersWithBodies() throws {
        let head = StaticHeaders(status: .notFound, headers: [("X-A", "1"), ("X-A", "2")])
        let server = FakeServer()
        try server.response.respond(head, body: "gone" as StaticString)
        #expect(server.calls == [
            .start(status: "404 Not Found", headers: [Pair("X-A", "1"), Pair("X-A", "2")], flags: 0),
            .writeLast("gone"),
        ])
        let other = FakeServer()
        try other.response.start(head)
        try other.response.write("a")
        try other.response.writeLast("b")
        #expect(other.sentBody == "ab")
    }

    @Test func emptyStaticHeaders() throws {
        let server = FakeServer()
        try server.response.respond(StaticHeaders(status: .noContent), body: "")
        #expect(server.calls == [.start(status: "204 No Content", headers: [], flags: 0), .writeLast("")])
    }

    @Test func streamedResponse() throws {
        let server = FakeServer()
        try server.response.start(status: .ok, headers: ["Content-Type": "text/csv", "X-Count": "3"])
        try server.response.write("a,")
        try server.response.write(Array("b,".utf8))
        try server.response.write("c" as StaticString)
        try server.response.writeLast([])
        #expect(server.calls == [
            .start(status: "200 OK", headers: [Pair("Content-Type", "text/csv"), Pair("X-Count", "3")], flags: 0),
            .write("a,"), .write("b,"), .write("c"), .writeLast(""),
        ])
    }

    @Test func emptyWritesNeverPassNull() throws {
        let server = FakeServer()
        try server.response.start(status: .ok)
        try server.response.write(UnsafeRawBufferPointer(start: nil, count: 0))
        try server.response.writeLast(UnsafeRawBufferPointer(start: nil, count: 0))
        #expect(server.calls.suffix(2) == [.write(""), .writeLast("")])
    }

    @Test func oneShotConvenience() throws {
        let server = FakeServer()
        try server.response.respond(status: 418, headers: [("Set-Cookie", "a=1"), ("Set-Cookie", "b=2")], body: "short and stout")
        #expect(server.calls == [
            .start(status: "418 I'm a teapot", headers: [Pair("Set-Cookie", "a=1"), Pair("Set-Cookie", "b=2")], flags: 0),
            .writeLast("short and stout"),
        ])
        let bytes = FakeServer()
        try bytes.response.respond(body: Array("xyz".utf8))
        #expect(bytes.calls == [.start(status: "200 OK", headers: [], flags: 0), .writeLast("xyz")])
    }

    @Test func sendFilePassesItsArguments() throws {
        let server = FakeServer()
        try server.response.start(status: .ok)
        try server.response.sendFile(fd: 7, offset: 1 << 33, count: 4096)
        #expect(server.calls.last == .sendFile(fd: 7, offset: 1 << 33, count: 4096))
    }

    @Test func replacingPassesGatewayReplace() throws {
        let server = FakeServer()
        try server.response.start(status: .ok, headers: ["Content-Type": "text/html"])
        try server.response.start(status: .internalServerError, headers: ["Content-Type": "text/plain"], replacing: true)
        try server.response.writeLast("oops")
        #expect(server.calls == [
            .start(status: "200 OK", headers: [Pair("Content-Type", "text/html")], flags: 0),
            .start(status: "500 Internal Server Error", headers: [Pair("Content-Type", "text/plain")], flags: GATEWAY_REPLACE),
            .writeLast("oops"),
        ])
    }

    @Test func secondStartWithoutReplacingThrows() throws {
        let server = FakeServer()
        try server.response.start(status: .ok)
        #expect(throws: GatewayError.startResponseFailed) { try server.response.start(status: .notFound) }
    }

    @Test func replacingAfterTheBodyStartedThrows() throws {
        let server = FakeServer()
        let head = StaticHeaders(status: .ok)
        try server.response.start(head)
        try server.response.write("x")
        #expect(throws: GatewayError.startResponseFailed) {
            try server.response.start(head, replacing: true)
        }
        #expect(server.calls.last == .start(status: "200 OK", headers: [], flags: GATEWAY_REPLACE))
    }

    @Test func refusedHeaderThrows() {
        let server = FakeServer()
        #expect(throws: GatewayError.startResponseFailed) {
            try server.response.respond(headers: ["Connection": "close"], body: "")
        }
    }

    @Test func writeFailuresThrow() throws {
        let server = FakeServer()
        #expect(throws: GatewayError.writeFailed) { try server.response.write("before start") }
        #expect(throws: GatewayError.sendFileFailed) { try server.response.sendFile(fd: 3, count: 1) }
        try server.response.start(status: .ok)
        try server.response.writeLast("done")
        #expect(throws: GatewayError.writeFailed) { try server.response.write("after last") }
    }

    @Test func writeFailuresCarryTheServersReason() throws {
        let server = FakeServer()
        server.lastError = GATEWAY_E_NOT_NOW
        #expect(throws: GatewayError.notAllowedNow) { try server.response.write("before start") }
        server.lastError = GATEWAY_E_BAD_RESPONSE
        #expect(throws: GatewayError.invalidResponse) {
            try server.response.respond(headers: ["Connection": "close"], body: "")
        }
    }

    @Test func addingHeadersAppendsToAPreparedHead() throws {
        let server = FakeServer()
        let hello = StaticResponse(headers: ["Content-Type": "text/plain"], body: "hi")
        try server.response.addingHeaders { ["X-Extra": "1"] }.respond(hello)
        #expect(server.calls == [
            .start(status: "200 OK", headers: [Pair("Content-Type", "text/plain"), Pair("X-Extra", "1")], flags: 0),
            .writeLast("hi"),
        ])
    }

    @Test func filtersSeeEveryCall() throws {
        final class Upper: ResponseFilter {
            override func write(_ bytes: UnsafeRawBufferPointer) throws {
                try next.write(String(decoding: bytes, as: UTF8.self).uppercased())
            }
            override func writeLast(_ bytes: UnsafeRawBufferPointer) throws {
                try next.writeLast(String(decoding: bytes, as: UTF8.self).uppercased())
            }
        }
        let server = FakeServer()
        let writer = ResponseWriter(filter: Upper(next: server.response))
        try writer.start(status: .ok, replacing: false)
        try writer.write("abc")
        try writer.sendFile(fd: 4, offset: 0, count: 2)
        try writer.writeLast("def")
        #expect(server.calls == [
            .start(status: "200 OK", headers: [], flags: 0),
            .write("ABC"), .sendFile(fd: 4, offset: 0, count: 2), .writeLast("DEF"),
        ])
    }

    @Test func statusValues() {
        #expect(Status.ok.line == "200 OK")
        #expect(Status(code: 404).line == "404 Not Found")
        #expect(Status(code: 299).line == "299 Unknown")
        #expect(Status(code: 299, reason: "Fine").line == "299 Fine")
        let teapot: Status = 418
        #expect(teapot.code == 418)
        #expect(teapot.reason == "I'm a teapot")
        #expect(Status("garbage").code == 0)
    }
}
