/// The responses the server makes itself (400, 413, 500, 504, ...), built in
/// one place for the worker and the master alike: a status line from the one
/// phrase table, Server and Date, a short text body, and the connection's
/// fate. Not on the hot path: a String is fine here.
public enum ServerResponse {
    public enum Connection { case close, keepAlive, keepAliveHTTP10 }

    static func body(_ status: Int) -> String { "\(status) \(StatusPhrase.text(status))\n" }

    /// The length of the body `bytes` gives `status` (for the access log).
    public static func bodyLength(_ status: Int) -> Int { body(status).utf8.count }

    /// The bytes of an error response. `date` is an IMF-fixdate (29 bytes);
    /// `bodyless` (a HEAD request) sends the head alone, with the length
    /// the body would have had.
    public static func bytes(status: Int, date: some Collection<UInt8>, connection: Connection,
                             bodyless: Bool = false, dialect: ResponseDialect = HTTPConformance.dialect) -> [UInt8] {
        let cgi = dialect.status == .cgi, serverHeaders = dialect.serverHeaders
        let phrase = StatusPhrase.text(status)
        let body = Self.body(status)
        // SCGI, FastCGI: a CGI response, "Status:" in place of the status line.
        var text = cgi ? "Status: " : "HTTP/1.1 "
        text += "\(status) \(phrase)\r\n"
        // Behind uwsgi_pass, scgi_pass, fastcgi_pass the proxy makes the
        // client's head: our Server and Date would replace its own.
        if serverHeaders { text += "Server: gatewayd\r\nDate: " + String(decoding: date, as: UTF8.self) + "\r\n" }
        text += "Content-Type: text/plain\r\nContent-Length: \(body.utf8.count)\r\n"
        if status == 405 { text += "Allow: GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS\r\n" }
        switch connection {
        case .close: text += "Connection: close\r\n"
        case .keepAlive: break
        case .keepAliveHTTP10: text += "Connection: keep-alive\r\n"
        }
        text += "\r\n"
        if !bodyless { text += body }
        return Array(text.utf8)
    }
}
