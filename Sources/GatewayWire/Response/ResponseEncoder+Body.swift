#if canImport(Glibc)
import Glibc
#endif
import CGateway

// The body: write, write_last and sendfile, each checked against the
// framing before a byte goes out, and the end of the response.
extension ResponseEncoder {
    /// Whether a call may add `n` body bytes now; the refusal otherwise.
    @inline(__always)
    func admit(_ n: Int, _ call: StaticString) -> Int32? {
        if let e = bodyRefused { return refusedAfterBody(e, call) }
        switch phase {
        case .headersSet, .committed:
            break
        case .pending:
            return refuse(.notNow, "\(call) before start_response()")
        case .refused:
            return refuse(.notNow, "\(call) after a refused start_response(): the client gets a 500")
        case .finished:
            return refuse(.notNow, "\(call) after write_last()")
        case .aborted:
            return refuse(failure == .none ? .notNow : failure, "\(call) after the response was aborted")
        }
        // Checked before anything is sent: a refused write sends nothing.
        let remaining: Int
        if case .length(let r) = framing { remaining = r } else if phase == .headersSet && appContentLength >= 0 && !bodyless {
            remaining = appContentLength
        } else { return nil }
        guard n > remaining else { return nil }
        return refuse(.length, "\(call): \(n) bytes, but only \(remaining) of the declared Content-Length (\(appContentLength)) are left: refused")
    }

    /// No body goes on the wire for this response (HEAD, 204, 304).
    var bodyless: Bool { request.isHead || status == 204 || status == 205 || status == 304 }

    public func write(_ data: UnsafeRawPointer?, _ len: Int, last: Bool) -> Int32 {
        if let refused = admit(len, last ? "write_last()" : "write()") { return refused }
        if phase == .headersSet { commit(knownLength: last ? len : nil) }
        if last { phase = .finished }
        switch framing {
        case .none:
            return flush() ? GATEWAY_OK : GATEWAY_ERROR
        case .length(let remaining):
            framing = .length(remaining: remaining - len)
            if len > 0 && !send(data!, len) { return GATEWAY_ERROR }
        case .closeDelimited:
            if len > 0 && !send(data!, len) { return GATEWAY_ERROR }
        case .chunked:
            if len > 0 {
                if outLength + 20 > outCapacity && !flush() { return GATEWAY_ERROR }
                outLength = putHex(len, at: outLength)
                outLength = put("\r\n", at: outLength)
                if !send(data!, len, then: "\r\n") { return GATEWAY_ERROR }
            }
            // The chunk's CRLF stays pending: it goes out with the next chunk.
            if !last { return GATEWAY_OK }
            outLength = put("0\r\n\r\n", at: outLength)
        }
        // An empty write sends nothing yet: the head goes with the first bytes.
        if last || (outLength > 0 && len > 0) { return flush() ? GATEWAY_OK : GATEWAY_ERROR }
        return GATEWAY_OK
    }

    /// Sends the pending head or chunk framing followed by `data`, in one
    /// call when it fits; `then` is kept pending after the data.
    @inline(__always)
    func send(_ data: UnsafeRawPointer, _ len: Int, then suffix: StaticString? = nil) -> Bool {
        bodySent += len
        if outLength + len + 8 <= outCapacity && len <= 16384 {
            (UnsafeMutableRawPointer(out) + outLength).copyMemory(from: data, byteCount: len)
            outLength += len
            if let suffix { outLength = put(suffix, at: outLength) }
            return flush()
        }
        let ok = outLength > 0 ? emit(out, outLength, data, len) : emit(data, len)
        outLength = 0
        if let suffix, ok { outLength = put(suffix, at: 0) }
        return ok
    }

    public func sendFile(_ fd: Int32, _ offset: off_t, _ count: Int) -> Int32 {
        if let refused = admit(count, "sendfile()") { return refused }
        // Checked before the head goes out: a bad descriptor or a short file
        // is refused with nothing sent (the client then gets a 500).
        guard offset >= 0, let size = output.regularFileSize(fd) else {
            return refuse(.file, "sendfile(): descriptor \(fd) is not an open regular file: refused")
        }
        guard Int(offset) + count <= size else {
            return refuse(.file, "sendfile(): the file has \(size) bytes, fewer than offset \(offset) + \(count): refused")
        }
        if phase == .headersSet { commit(knownLength: nil) }
        if count == 0 { return GATEWAY_OK }
        switch framing {
        case .none:
            return flush() ? GATEWAY_OK : GATEWAY_ERROR
        case .length(let remaining):
            framing = .length(remaining: remaining - count)
        case .chunked:
            outLength = putHex(count, at: outLength)
            outLength = put("\r\n", at: outLength)
        case .closeDelimited:
            break
        }
        guard flush() else { return GATEWAY_ERROR }
        let (result, sent) = output.sendFile(fd, offset: offset, count: count)
        wireBytes += sent
        bodySent += sent
        switch result {
        case .sent:
            break
        case .fileShort:
            return abort(.file, "sendfile(): the file is shorter than the \(count) bytes asked for: response aborted")
        case .clientGone:
            _ = lostClient()
            return GATEWAY_ERROR
        case .failed(let why):
            return abort(.file, "sendfile(): \(why): response aborted")
        }
        if framing == .chunked { outLength = put("\r\n", at: outLength) }
        return GATEWAY_OK
    }

    /// The response cannot be completed as declared. When the client has
    /// seen nothing yet it gets a 500 instead; otherwise the connection is
    /// closed short of the declared end, so no client takes it for whole.
    @discardableResult
    func abort(_ reason: GatewayFailure, _ message: String) -> Int32 {
        failure = reason
        if wireBytes == 0 && phase != .aborted {
            outLength = 0
            sendError(500, reason: message, end: .close)
        } else {
            log(GATEWAY_LOG_ERROR, message)
            outLength = 0
            if phase != .aborted { phase = .aborted }
            endAtLeast(.drop)
        }
        return GATEWAY_ERROR
    }

    // MARK: the end

    /// After the app returned: completes the response, replaces it with an
    /// error response while the client has seen nothing, or aborts it.
    /// `bodyError`: the server refused the request body (400, 408, 413).
    public func finish(appResult: Int32, bodyError: HTTPError?) {
        if phase == .aborted { return }
        if let e = bodyError {
            // The body was refused: the client gets the server's answer, not the app's.
            if wireBytes == 0 { outLength = 0; sendError(e.status, reason: "\(e.reason)", end: .close) } else {
                abort(GatewayFailure.body(e), "\(e.status) \(StatusPhrase.text(e.status)): \(e.reason), after the response started: connection aborted")
            }
            return
        }
        if appResult != GATEWAY_OK {
            if wireBytes == 0 {
                // The request itself was well framed: the connection stays usable.
                outLength = 0
                sendError(500, reason: "the app returned an error", end: .keepOpen)
            } else {
                abort(failure, "the app returned an error after the response started: connection aborted")
            }
            return
        }
        switch phase {
        case .pending:
            let why = failure == .none ? "the app returned without calling start_response()" : "the app's response was refused"
            sendError(500, reason: why, end: .keepOpen)
        case .refused:
            sendError(500, reason: "the app's response was refused", end: .keepOpen)
        case .headersSet:
            if appContentLength > 0 && !bodyless {
                sendError(500, reason: "the app declared Content-Length \(appContentLength) but sent no body", end: .keepOpen)
                return
            }
            commit(knownLength: 0)
            phase = .finished
            flush()
        case .committed, .finished:
            if framing == .chunked && phase == .committed {
                outLength = put("0\r\n\r\n", at: outLength)
            }
            if case .length(let remaining) = framing, remaining > 0 {
                abort(.length, "the app sent \(appContentLength - remaining) of the \(appContentLength) bytes its Content-Length declared: connection aborted")
                return
            }
            phase = .finished
            flush()
        case .aborted:
            break
        }
    }

    /// A response the server makes itself. `end`: how the connection ends
    /// (protocol errors close it; an app error keeps a well-framed one).
    public func sendError(_ status: Int, reason: String, end: ConnectionEnd) {
        self.status = status
        endAtLeast(end)
        closeIfBodyStaysUnread()
        (logRefusal ?? log)(status >= 500 ? GATEWAY_LOG_ERROR : GATEWAY_LOG_INFO, "\(status) \(StatusPhrase.text(status)): \(reason)")
        let connection: ServerResponse.Connection =
            self.end != .keepOpen ? .close : (request.saysKeepAlive ? .keepAliveHTTP10 : .keepAlive)
        freshDate()
        let bytes = ServerResponse.bytes(status: status, date: date, connection: connection, bodyless: request.isHead,
                                        dialect: request.dialect)
        phase = .finished
        framing = .none
        bodySent = request.isHead ? 0 : ServerResponse.bodyLength(status)
        outLength = 0
        bytes.withUnsafeBytes { _ = emit($0.baseAddress!, $0.count) }
    }
}
