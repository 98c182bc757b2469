#if canImport(Glibc)
import Glibc
#endif
import CGateway
import CSupport

/// Everything about the request being served: one instance per worker,
/// reset for each request (a worker serves one request at a time). The
/// `gateway_request` handed to the app points back here.
public final class RequestContext {
    enum Scheme { case http, https }
    enum BodyMode { case none, length, chunked }

    // set per request
    var connection: Connection!
    var head: RequestHead
    var listener: Listener!
    let identity: WorkerIdentity
    let limits: HTTPLimits
    let bodyTimeoutMs: Int32
    /// forwarded_allow_ips and secure_scheme_headers (RequestContext+Forwarded.swift).
    let forwardedPolicy: ForwardedHeaders.Policy

    // the request body
    var bodyMode = BodyMode.none
    var bodyRemaining = 0
    var decoder = ChunkedDecoder()
    var bodyDone = true
    var sentContinue = false
    var bodyError: HTTPError?
    var bytesIn = 0

    // the response
    var status = 0
    var statusLine = [UInt8]()
    /// Serialized app headers ("Name: value\r\n" ...), kept until commit.
    var appHeaders: UnsafeMutablePointer<UInt8>
    var appHeadersCapacity: Int
    var appHeadersLength = 0
    var appContentLength = -1
    var started = false
    var committed = false
    var finished = false
    var chunkedResponse = false
    var noBody = false
    var closeAfter = false
    var failed = false
    var clientGone = false
    var bodySent = 0
    var bytesOut = 0

    let out: UnsafeMutablePointer<UInt8>
    var outLength = 0
    public var scoreboard: UnsafeMutablePointer<gw_score_slot>?
    let outCapacity = 65536
    var date: [UInt8] = Array(repeating: 0, count: 29)

    var environ = Environ(capacity: 64, arenaCapacity: 16384)
    let request: UnsafeMutablePointer<gateway_request>
    var errorLog: (Int32, String) -> Void = { _, _ in }
    var stopping = false

    init(identity: WorkerIdentity, limits: HTTPLimits, bodyTimeout: Int, trustedProxies: [String],
         secureSchemeHeaders: [(name: String, value: String)] = Config.defaultSecureSchemeHeaders,
         appData: UnsafeMutableRawPointer?) {
        self.identity = identity
        self.limits = limits
        self.bodyTimeoutMs = Int32(min(bodyTimeout, 1_000_000) * 1000)
        forwardedPolicy = ForwardedHeaders.Policy(trusted: trustedProxies, secureSchemeHeaders: secureSchemeHeaders)
        head = RequestHead(fieldCapacity: limits.fields)
        appHeadersCapacity = 4096
        appHeaders = .allocate(capacity: appHeadersCapacity)
        out = .allocate(capacity: 65536)
        request = .allocate(capacity: 1)
        request.initialize(to: gateway_request(api: GatewayAPI.table, app_data: appData, server: nil))
        request.pointee.server = Unmanaged.passUnretained(self).toOpaque()
        refreshDate()
    }

    func refreshDate() {
        var d = [CChar](repeating: 0, count: 30)
        gw_http_date(&d)
        for i in 0..<29 { date[i] = UInt8(bitPattern: d[i]) }
    }

    /// Prepares for a request whose head was parsed into `head`.
    @inline(__always)
    func begin(connection: Connection, listener: Listener) {
        self.connection = connection
        self.listener = listener
        environ.reset()
        status = 0
        appHeadersLength = 0
        appContentLength = -1
        started = false; committed = false; finished = false
        chunkedResponse = false; noBody = false; failed = false; clientGone = false
        closeAfter = !head.keepAlive || stopping
        bodySent = 0; bytesOut = 0; bytesIn = 0
        sentContinue = false; bodyError = nil
        if head.chunked {
            bodyMode = .chunked; decoder = ChunkedDecoder(); bodyDone = false
        } else if head.contentLength > 0 {
            bodyMode = .length; bodyRemaining = head.contentLength; bodyDone = false
        } else {
            bodyMode = .none; bodyDone = true
        }
    }
}
