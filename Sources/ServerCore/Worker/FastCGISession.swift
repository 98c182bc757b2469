/// Where a FastCGI connection stands: the request it serves (0 between
/// requests) and whether the web server keeps the connection after it
/// (FCGI_KEEP_CONN). One request at a time: FCGI_MPXS_CONNS is 0.
struct FastCGISession {
    var requestId: UInt16 = 0
    var keepConn = false
}
