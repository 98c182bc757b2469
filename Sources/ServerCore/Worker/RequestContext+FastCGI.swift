/// The end of a FastCGI request: after the response and the rest of the
/// body, the empty STDOUT and END_REQUEST, so the web server knows the
/// response is whole and (FCGI_KEEP_CONN) may send the next request.
extension RequestContext {
    /// The rest of the body is read before the response begins (when it is
    /// not in yet): RequestBody.prereadRecords says why.
    func prepareRecordOutput() {
        framedOutput.beforeFirstRecord = body.isDone ? nil : { [unowned body] in body.prereadRecords() }
    }

    /// The encoder finished the response and the body is read: nothing
    /// can follow the last STDOUT record but END_REQUEST.
    var fastcgiResponseComplete: Bool { response.phase == .finished && body.isDone }

    func endRecordRequest() {
        defer {
            connection.fastcgi.requestId = 0
            framedOutput.fastcgiRequest = 0
        }
        // The master answered (a timeout): its 504 ends with END_REQUEST.
        if response.end == .handOver { return }
        // The socket is gone: nothing more can be sent.
        if response.failure == .clientGone && !body.aborted { return }
        // An aborted response (the app failed after its first bytes, or sent
        // less than its Content-Length): END_REQUEST would tell the web
        // server the response is whole. Closing without it makes nginx
        // truncate the client's response, as over HTTP.
        if response.phase == .aborted && !body.aborted {
            response.endAtLeast(.drop)
            return
        }
        if !framedOutput.endRequest(appStatus: 0) { response.endAtLeast(.drop) }
        // After ABORT_REQUEST, the rest of the request is not read: close.
        if body.aborted { response.endAtLeast(.close) }
    }
}
