import Testing
@testable import GatewayWire

/// Each protocol's conformance says its rules (ProtocolConformance.swift);
/// these pin them, and run the encoder with each dialect to show the bytes
/// follow. The decoders' case tables (ProtocolCases, FastCGICases,
/// HTTPCases) are the tests of each conformance's head decoding.
@Suite struct ProtocolConformanceTests {
    @Test func chosenFromTheListenersProtocol() {
        #expect(ProtocolConformance.conformance(for: .http) == .http)
        #expect(ProtocolConformance.conformance(for: .uwsgi) == .uwsgi)
        #expect(ProtocolConformance.conformance(for: .scgi) == .scgi)
        #expect(ProtocolConformance.conformance(for: .fastcgi) == .fastcgi)
        for p in [ListenProtocol.http, .uwsgi, .scgi, .fastcgi] {
            // the scoreboard carries the raw value to the master
            #expect(ProtocolConformance.conformance(for: p).rawValue == p.rawValue)
            #expect(ProtocolConformance.conformance(for: p).description == "\(p)")
        }
        #expect(ListenProtocol.http.bindPrefix == "" && ListenProtocol.fastcgi.bindPrefix == "fastcgi:")
    }

    @Test func httpDialect() {
        let c = ProtocolConformance.http
        #expect(c.dialect == ResponseDialect(status: .statusLine, framing: .chunkedUnlessHTTP10, serverHeaders: true))
        #expect(c.headDecoding == .httpHead && c.bodyFraming == .head && c.fieldSource == .head)
        #expect(c.requestEnd == .lastByte && c.headLimitApplies && c.defersResponseWrites && !c.peerWritesFirst)
        #expect(c.rejectedLine == nil)
        // chunked for an HTTP/1.1 client, not for an HTTP/1.0 one
        #expect(ResponseEncoder<BufferOutput>.Request(dialect: c.dialect).chunkingAllowed)
        #expect(!ResponseEncoder<BufferOutput>.Request(clientHTTP10: true, dialect: c.dialect).chunkingAllowed)
        #expect(ResponseEncoder<BufferOutput>.Request(clientHTTP10: true, dialect: c.dialect).saysKeepAlive)
    }

    @Test func uwsgiDialect() {
        let c = ProtocolConformance.uwsgi
        #expect(c.dialect == ResponseDialect(status: .statusLine, framing: .connectionClose, serverHeaders: false))
        #expect(c.headDecoding == .variables(.uwsgi) && c.bodyFraming == .head && c.fieldSource == .variables)
        #expect(c.requestEnd == .lastByte && !c.headLimitApplies && !c.defersResponseWrites && c.peerWritesFirst)
        #expect(c.rejectedLine == Array("(uwsgi request)".utf8))
        // never chunked, whatever the client's version
        #expect(!ResponseEncoder<BufferOutput>.Request(dialect: c.dialect).chunkingAllowed)
    }

    @Test func scgiDialect() {
        let c = ProtocolConformance.scgi
        #expect(c.dialect == ResponseDialect(status: .cgi, framing: .connectionClose, serverHeaders: false))
        #expect(c.headDecoding == .variables(.scgi) && c.bodyFraming == .head && c.fieldSource == .variables)
        #expect(c.requestEnd == .lastByte && !c.headLimitApplies && !c.defersResponseWrites && c.peerWritesFirst)
        #expect(!ResponseEncoder<BufferOutput>.Request(dialect: c.dialect).chunkingAllowed)
    }

    @Test func fastcgiDialect() {
        let c = ProtocolConformance.fastcgi
        #expect(c.dialect == ResponseDialect(status: .cgi, framing: .records, serverHeaders: false))
        #expect(c.headDecoding == .records && c.bodyFraming == .records && c.fieldSource == .variables)
        #expect(c.requestEnd == .endRequestRecord && !c.headLimitApplies && !c.defersResponseWrites && c.peerWritesFirst)
        let r = ResponseEncoder<BufferOutput>.Request(clientHTTP10: true, dialect: c.dialect)
        #expect(!r.chunkingAllowed && !r.saysKeepAlive && r.recordFramed)
    }

    /// A body without a length, in each dialect: what the head says.
    @Test func aBodyWithoutALengthInEachDialect() {
        let http = Harness(.init(dialect: ProtocolConformance.http.dialect))
        http.start("200 OK"); http.write("ab"); http.finish()
        #expect(http.headLines[0] == "HTTP/1.1 200 OK" && http.header("Transfer-Encoding") == ["chunked"])
        #expect(http.header("Server") == ["gatewayd"] && http.header("Date").count == 1)

        let http10 = Harness(.init(clientHTTP10: true, dialect: ProtocolConformance.http.dialect))
        http10.start("200 OK"); http10.write("ab"); http10.finish()
        #expect(http10.header("Transfer-Encoding").isEmpty && http10.encoder.end == .close)

        let uwsgi = Harness(.init(close: true, dialect: ProtocolConformance.uwsgi.dialect))
        uwsgi.start("200 OK"); uwsgi.write("ab"); uwsgi.finish()
        #expect(uwsgi.headLines[0] == "HTTP/1.1 200 OK" && uwsgi.header("Transfer-Encoding").isEmpty)
        #expect(uwsgi.header("Server").isEmpty && uwsgi.header("Date").isEmpty && uwsgi.encoder.end == .close)

        let scgi = Harness(.init(close: true, dialect: ProtocolConformance.scgi.dialect))
        scgi.start("200 OK"); scgi.write("ab"); scgi.finish()
        #expect(scgi.headLines[0] == "Status: 200 OK" && scgi.header("Transfer-Encoding").isEmpty)
        #expect(scgi.header("Server").isEmpty && scgi.header("Date").isEmpty)

        let fastcgi = Harness(.init(dialect: ProtocolConformance.fastcgi.dialect))
        fastcgi.start("200 OK"); fastcgi.write("ab"); fastcgi.finish()
        #expect(fastcgi.headLines[0] == "Status: 200 OK" && fastcgi.header("Transfer-Encoding").isEmpty)
        #expect(fastcgi.header("Connection").isEmpty && fastcgi.encoder.end == .keepOpen)
        #expect(fastcgi.header("Server").isEmpty && fastcgi.header("Date").isEmpty)
    }

    /// The master's 504, in each protocol's form.
    @Test func timeoutResponses() {
        let date = Array("Tue, 01 Dec 2026 09:00:00 GMT".utf8)
        func text(_ c: ProtocolConformance) -> String {
            String(decoding: c.timeoutResponse(isHead: false, date: date, requestId: 7), as: UTF8.self)
        }
        #expect(text(.http).hasPrefix("HTTP/1.1 504 Gateway Timeout\r\nServer: gatewayd\r\nDate: "))
        #expect(text(.uwsgi).hasPrefix("HTTP/1.1 504 Gateway Timeout\r\nContent-Type"))
        #expect(text(.scgi).hasPrefix("Status: 504 Gateway Timeout\r\nContent-Type"))
        let fcgi = ProtocolConformance.fastcgi.timeoutResponse(isHead: true, date: date, requestId: 7)
        // STDOUT (type 6) for request 7, and END_REQUEST (type 3) last
        #expect(fcgi[0] == 1 && fcgi[1] == 6 && fcgi[2] == 0 && fcgi[3] == 7)
        #expect(Array(fcgi.suffix(16).prefix(4)) == [1, 3, 0, 7])
        #expect(!String(decoding: fcgi, as: UTF8.self).contains("Server:"))
    }
}
