#if canImport(Glibc)
import Glibc
#endif
import CGateway
import CSupport

/// Everything about the request being served: one instance per worker,
/// reset for each request (a worker serves one request at a time). The
/// `gateway_request` handed to the app points back here. The request side
/// is the head (offsets into the connection's buffer) and `body`; the
/// response side is `response`, whose bytes go to `output`.
public final class RequestContext {
    enum Scheme { case http, https }

    // set per request
    var connection: Connection!
    var head: RequestHead
    var listener: Listener!
    /// Which of the worker's listeners `listener` is (-1: set otherwise, by `reject`).
    var listenerIndex = -1
    let identity: WorkerIdentity
    let limits: HTTPLimits
    /// script_name (Mount.swift); `mountsAll` when there is none, so the
    /// hot path tests a Bool instead of copying the prefix.
    let mount: Mount
    let mountsAll: Bool
    /// forwarded_allow_ips and secure_scheme_headers (RequestContext+Forwarded.swift).
    let forwardedPolicy: ForwardedHeaders.Policy

    let body: RequestBody
    let output: SocketOutput
    /// The socket as is, or framed in FastCGI records (ConnectionOutput).
    let framedOutput: ConnectionOutput
    let response: ResponseEncoder<ConnectionOutput>
    public var scoreboard: UnsafeMutablePointer<gw_score_slot>? {
        didSet { framedOutput.scoreboard = scoreboard }
    }

    var environ = Environ(capacity: 64, arenaCapacity: 16384)
    /// The proxy's variables, for a uwsgi or SCGI request (Environ+Proxied.swift).
    var vars: ProtocolVars
    let protocolLimits: ProtocolLimits
    let request: UnsafeMutablePointer<gateway_request>
    var errorLog: (Int32, String) -> Void = { _, _ in } {
        didSet { response.setLog(errorLog); output.log = errorLog }
    }
    var stopping = false
    /// gateway.multithread: the worker has more than one app thread.
    var multithread = false
    /// The connection whose request head `head` holds, parsed by the loop
    /// on this thread (nil once used, or when overwritten): the thread
    /// that serves it skips parsing it again.
    unowned(unsafe) var headOf: Connection?
    /// Which head of that connection (its `heads` then). A head parsed here
    /// and served by another thread stays here: it must not pass for the
    /// connection's next request, nor, the Connection being reused from the
    /// spare pool, for another client's, if this thread serves that one.
    var headSerial: UInt64 = 0

    @inline(__always)
    func parsedHead(of c: Connection) {
        c.heads &+= 1
        headOf = c
        headSerial = c.heads
    }

    /// Whether `head` is the head of the request `c` has now.
    @inline(__always)
    func holdsHead(of c: Connection) -> Bool { headOf === c && headSerial == c.heads }

    init(identity: WorkerIdentity, limits: HTTPLimits, bodyTimeout: Int, trustedProxies: [String],
         secureSchemeHeaders: [(name: String, value: String)] = Config.defaultSecureSchemeHeaders,
         scriptName: String = "", fastcgiCapacity: FastCGIRecord.Capacity = .init(), appData: UnsafeMutableRawPointer?) {
        mount = Mount(scriptName)
        mountsAll = scriptName.isEmpty
        self.identity = identity
        self.limits = limits
        forwardedPolicy = ForwardedHeaders.Policy(trusted: trustedProxies, secureSchemeHeaders: secureSchemeHeaders)
        let timeoutMs = Int32(min(bodyTimeout, 1_000_000) * 1000)
        body = RequestBody(limits: limits, timeoutMs: timeoutMs)
        output = SocketOutput(timeoutMs: timeoutMs)
        framedOutput = ConnectionOutput(socket: output)
        response = ResponseEncoder(output: framedOutput)
        head = RequestHead(fieldCapacity: limits.fields)
        protocolLimits = ProtocolLimits(limits, fastcgi: fastcgiCapacity)
        vars = ProtocolVars(capacity: protocolLimits.vars)
        request = .allocate(capacity: 1)
        request.initialize(to: gateway_request(api: GatewayAPI.table, app_data: appData, server: nil))
        request.pointee.server = Unmanaged.passUnretained(self).toOpaque()
        framedOutput.responseComplete = { [unowned self] in fastcgiResponseComplete }
        body.fastcgiCapacity = fastcgiCapacity
    }

    /// Prepares for a request whose head was parsed into `head`.
    @inline(__always)
    func begin(connection: Connection, listeners: [Listener]) {
        self.connection = connection
        // Copied only when it changes: a Listener holds strings, and a copy
        // per request cost two hundred instructions of reference counting.
        if listenerIndex != connection.listener {
            listener = listeners[connection.listener]
            listenerIndex = connection.listener
        }
        rejectedLine = nil
        environ.reset()
        output.fd = connection.fd
        output.connection = connection
        output.bytesOut = 0
        framedOutput.fastcgiRequest = connection.fastcgi.requestId
        body.begin(head, connection: connection)
        let conformance = connection.conformance
        if conformance.bodyFraming == .records { prepareRecordOutput() }
        response.begin(.init(isHead: head.isHead, clientHTTP10: head.version == .http10,
                             close: !head.keepAlive || stopping, dialect: conformance.dialect))
        if !body.isDone { noteBodyState() }
    }

    /// A request the parser refused (400, 413, 414, 431, ...): the error
    /// response, and the connection closes (lingering: the rest is unread).
    /// `line`: the request line as received, for the logs.
    /// `keepFields`: the parser refused a head whose request line it read;
    /// the fields before the refusal stay for the access log (host, user_agent).
    func reject(connection: Connection, listener: Listener, line: [UInt8], _ e: HTTPError, keepFields: Bool = false) {
        headOf = nil
        self.connection = connection
        self.listener = listener
        listenerIndex = -1
        if !keepFields { head.reset() }
        head.methodLength = 0
        rejectedLine = line
        output.fd = connection.fd
        output.connection = connection
        output.bytesOut = 0
        framedOutput.fastcgiRequest = connection.fastcgi.requestId
        let isHead = line.starts(with: "HEAD ".utf8)
        // The client's version is unknown (the head did not parse): an
        // HTTP/1.1 response, closing.
        response.begin(.init(isHead: isHead, close: true, dialect: connection.conformance.dialect))
        // No request is on the scoreboard (the head did not parse), so there
        // is nothing the master could have claimed: answer without a claim
        // (the slot may still hold the master's claim of an earlier timeout).
        framedOutput.scoreboard = nil
        response.sendError(e.status, reason: "\(e.reason)", end: .close)
        framedOutput.scoreboard = scoreboard
        // The connection closes next: what the socket would not take yet goes now.
        if output.deferred > 0 { _ = output.sendKept(wait: true) }
    }

    /// The request line of a request the parser refused (its head is not
    /// parsed): the access log and the error-log label show it.
    var rejectedLine: [UInt8]?

    // What the access log and the loop read of the request just served.
    var status: Int { response.status }
    var bodySent: Int { response.bodySent }
    var bytesIn: Int { body.bytesIn }
    var bytesOut: Int { output.bytesOut }

    /// The app returned `result`: complete the response, drop what it left
    /// of the body (up to a bound), and say how the connection ends.
    @inline(__always)
    func finish(appResult: Int32) -> ConnectionEnd {
        if body.phase == .clientGone {
            response.clientGone()
            errorLog(GATEWAY_LOG_INFO, "client went away before the whole request body was received")
        }
        response.finish(appResult: appResult, bodyError: body.error)
        if !body.isDone && response.end < .drop
            && !body.drain(budget: Self.drainBudget, output: output, responseStarted: response.wireBytes > 0) {
            response.endAtLeast(body.phase == .clientGone ? .drop : .close)
        }
        if connection.conformance.requestEnd == .endRequestRecord { endRecordRequest() }
        if response.phase == .aborted && response.framing == .closeDelimited { resetAbortedResponse() }
        return response.end
    }

    /// An aborted response whose end would be the close of the connection
    /// (no length, not chunked: uwsgi, SCGI, FastCGI without
    /// FCGI_KEEP_CONN as nginx reads it, HTTP/1.0): a FIN would make the
    /// truncated body look whole. Over TCP the close is a reset instead,
    /// which nginx reports ("Connection reset by peer") and passes on as a
    /// truncated response. Not when the client is gone or the master
    /// answered (their ends are decided elsewhere).
    func resetAbortedResponse() {
        guard response.failure != .clientGone, response.end != .handOver else { return }
        response.endAtLeast(.drop)
        Sys.resetOnClose(connection.fd)
    }

    /// How much of an unread body is read and dropped to keep the
    /// connection open; past it the connection closes, lingering.
    static let drainBudget = 4 << 20

    // The gateway interface's calls that touch both sides.

    /// Tells the response whether the rest of the body will be left unread.
    func noteBodyState() {
        response.bodyStaysUnread = !body.isDone && !body.willDrain(budget: Self.drainBudget)
    }

    func read(_ dest: UnsafeMutableRawPointer, _ len: Int) -> Int {
        defer { noteBodyState() }
        let n = body.read(dest, len, output: output, responseStarted: response.wireBytes > 0)
        if n < 0 {
            switch body.phase {
            case .clientGone: response.note(.clientGone)
            default:
                response.note(body.error.map(GatewayFailure.body) ?? .badBody)
                response.bodyRefused = body.error
            }
        }
        return n
    }
}
