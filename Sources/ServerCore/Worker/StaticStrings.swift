/// NUL-terminated copies of the environ keys and fixed values, made once per
/// process, so environ entries are pointers and never allocations.
enum CKey {
    static func make(_ s: String) -> UnsafePointer<CChar> {
        let bytes = Array(s.utf8CString)
        let p = UnsafeMutablePointer<CChar>.allocate(capacity: bytes.count)
        p.initialize(from: bytes, count: bytes.count)
        return UnsafePointer(p)
    }

    static let requestMethod = make("REQUEST_METHOD")
    static let scriptName = make("SCRIPT_NAME")
    static let pathInfo = make("PATH_INFO")
    static let queryString = make("QUERY_STRING")
    static let requestURI = make("REQUEST_URI")
    static let contentType = make("CONTENT_TYPE")
    static let contentLength = make("CONTENT_LENGTH")
    static let serverName = make("SERVER_NAME")
    static let serverPort = make("SERVER_PORT")
    static let serverProtocol = make("SERVER_PROTOCOL")
    static let serverSoftware = make("SERVER_SOFTWARE")
    static let gatewayInterface = make("GATEWAY_INTERFACE")
    static let remoteAddr = make("REMOTE_ADDR")
    static let remotePort = make("REMOTE_PORT")
    static let gwVersion = make("gateway.version")
    static let gwScheme = make("gateway.url_scheme")
    static let gwMultithread = make("gateway.multithread")
    static let gwMultiprocess = make("gateway.multiprocess")
    static let gwRunOnce = make("gateway.run_once")
    static let gwWorkerId = make("gateway.worker_id")
    static let gwGeneration = make("gateway.generation")
    static let gwWorkerPid = make("gateway.worker_pid")
    static let gwProtocol = make("gateway.protocol")
    /// gateway.protocol, by ProtocolConformance.rawValue: the conformance's name.
    static let protocolNames = (0...3).map { make(ProtocolConformance(rawValue: UInt8($0))!.description) }

    static let empty = make("")
    static let p80 = make("80")
    static let p443 = make("443")
    static let zero = make("0")
    static let one = make("1")
    static let http = make("http")
    static let https = make("https")
    static let http10 = make("HTTP/1.0")
    static let http11 = make("HTTP/1.1")
    static let software = make("gatewayd/0.1")
    static let cgi = make("CGI/1.1")

    /// Initializes every key now, on one thread, before a worker starts its
    /// others: a lazy global first touched by several threads at once costs
    /// each a wait in swift_once (and ThreadSanitizer builds have been seen
    /// to hang there).
    static func initializeAll() {
        _ = requestMethod
        _ = scriptName
        _ = pathInfo
        _ = queryString
        _ = requestURI
        _ = contentType
        _ = contentLength
        _ = serverName
        _ = serverPort
        _ = serverProtocol
        _ = serverSoftware
        _ = gatewayInterface
        _ = remoteAddr
        _ = remotePort
        _ = gwVersion
        _ = gwScheme
        _ = gwMultithread
        _ = gwMultiprocess
        _ = gwRunOnce
        _ = gwWorkerId
        _ = gwGeneration
        _ = gwWorkerPid
        _ = gwProtocol
        _ = protocolNames
        _ = empty
        _ = p80
        _ = p443
        _ = zero
        _ = one
        _ = http
        _ = https
        _ = http10
        _ = http11
        _ = software
        _ = cgi
        _ = ShedReply.status
        _ = ShedReply.body
        _ = ShedReply.headers
    }
}
