import Testing
@testable import ServerCore

/// The event loop's decision to hold a request until its body is in the
/// buffer (body_buffer_size), fed the bytes as they would arrive.
@Suite struct BodyHoldTests {
    /// Runs `check` over `bytes` (a head of `headEnd` bytes, then the body)
    /// arriving `step` bytes at a time; the verdicts after each arrival.
    func verdicts(_ bytes: [UInt8], headEnd: Int, contentLength: Int = -1, chunked: Bool = false,
                  limit: Int, step: Int = 1) -> [BodyHold.Verdict] {
        var hold = BodyHold(headStart: 0, headEnd: headEnd, contentLength: contentLength, chunked: chunked, limit: limit)
        var out: [BodyHold.Verdict] = []
        bytes.withUnsafeBufferPointer { p in
            var end = headEnd
            while end < bytes.count {
                end = min(bytes.count, end + step)
                out.append(hold.check(p.baseAddress!, end: end, limits: HTTPLimits()))
                if out.last != .wait { break }
            }
        }
        return out
    }

    static let head = Array("POST / HTTP/1.1\r\n\r\n".utf8)

    @Test func aLengthBodyIsHeldUntilItsLastByte() {
        let bytes = Self.head + Array(repeating: 0x61, count: 10)
        let v = verdicts(bytes, headEnd: Self.head.count, contentLength: 10, limit: 64)
        #expect(v == Array(repeating: .wait, count: 9) + [.complete])
    }

    @Test func aLengthBodyAlreadyInIsCompleteAtOnce() {
        var hold = BodyHold(headStart: 0, headEnd: 5, contentLength: 3, chunked: false, limit: 64)
        let bytes: [UInt8] = Array(repeating: 0, count: 8)
        #expect(hold.check(bytes, end: 8, limits: HTTPLimits()) == .complete)
        #expect(hold.capacityNeeded == 8)
    }

    @Test func aLengthBodyOverTheLimitStreams() {
        var hold = BodyHold(headStart: 0, headEnd: 5, contentLength: 65, chunked: false, limit: 64)
        let bytes: [UInt8] = Array(repeating: 0, count: 6)
        #expect(hold.check(bytes, end: 6, limits: HTTPLimits()) == .stream)
    }

    @Test func aLengthBodyOfExactlyTheLimitIsHeld() {
        let bytes = Self.head + Array(repeating: 0x61, count: 64)
        let v = verdicts(bytes, headEnd: Self.head.count, contentLength: 64, limit: 64, step: 16)
        #expect(v == [.wait, .wait, .wait, .complete])
    }

    @Test func aChunkedBodyIsHeldUntilItsLastChunkAtEverySplit() {
        let body = Array("5\r\nhello\r\n3;x=y\r\nabc\r\n0\r\nT: v\r\n\r\n".utf8)
        for step in 1...body.count {
            let v = verdicts(Self.head + body, headEnd: Self.head.count, chunked: true, limit: 1024, step: step)
            #expect(v.last == .complete, "step \(step)")
            #expect(v.dropLast().allSatisfy { $0 == .wait }, "step \(step)")
        }
    }

    @Test func aChunkedBodyPastTheLimitStreams() {
        let body = Array("20\r\n".utf8) + Array(repeating: 0x61, count: 32) + Array("\r\n0\r\n\r\n".utf8)
        let v = verdicts(Self.head + body, headEnd: Self.head.count, chunked: true, limit: 16, step: 4)
        #expect(v.last == .stream)
        #expect(v.count == 4)  // decided as soon as 16 bytes of it are in
    }

    @Test func aMalformedChunkedBodyIsRefusedBeforeTheApp() {
        // An app that does not read the body would answer 200 to a request the server must refuse.
        for body in ["zz\r\n", "5\r\nhelloXX", "2;\r\nhi\r\n"] {
            let v = verdicts(Self.head + Array(body.utf8), headEnd: Self.head.count, chunked: true, limit: 1024,
                             step: body.utf8.count)
            guard case .failed(let e)? = v.last else { Issue.record("\(body): \(v)"); continue }
            #expect(e.status == 400 && v.count == 1, "\(body)")
        }
    }

    @Test func aChunkedBodyOverMaxBodySizeIsRefusedBeforeTheApp() {
        var hold = BodyHold(headStart: 0, headEnd: Self.head.count, contentLength: -1, chunked: true, limit: 1024)
        let bytes = Self.head + Array("20\r\n".utf8) + Array(repeating: 0x61, count: 32) + Array("\r\n0\r\n\r\n".utf8)
        let v = hold.check(bytes, end: bytes.count, limits: HTTPLimits(maxBody: 16))
        guard case .failed(let e) = v else { Issue.record("\(v)"); return }
        #expect(e.status == 413)
    }

    @Test func pipelinedBytesAfterAChunkedBodyDoNotMatter() {
        let body = Array("1\r\na\r\n0\r\n\r\nGET / HTTP/1.1\r\n".utf8)
        let v = verdicts(Self.head + body, headEnd: Self.head.count, chunked: true, limit: 1024, step: body.count)
        #expect(v == [.complete])
    }
}
