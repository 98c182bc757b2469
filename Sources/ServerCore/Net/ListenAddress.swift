/// One `bind` entry: a TCP address, a unix socket path, or a socket
/// inherited from systemd (selected by LISTEN_FDNAMES name or index).
public enum ListenAddress: Equatable, CustomStringConvertible, Sendable {
    case tcp(host: String, port: UInt16)
    case unix(path: String)
    case inherited(name: String)

    public struct ParseError: Error, CustomStringConvertible {
        public let description: String
    }

    public static func parse(_ text: String) throws -> ListenAddress {
        if text.hasPrefix("unix:") {
            let path = String(text.dropFirst(5))
            guard path.hasPrefix("/") else {
                throw ParseError(description: "\"\(text)\": a unix socket path must be absolute")
            }
            return .unix(path: path)
        }
        if text.hasPrefix("fd:") {
            let name = String(text.dropFirst(3))
            guard !name.isEmpty else { throw ParseError(description: "\"\(text)\": fd: needs a name or a number") }
            return .inherited(name: name)
        }
        let host: String
        let portText: Substring
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]") else {
                throw ParseError(description: "\"\(text)\": missing ']' after the IPv6 address")
            }
            host = String(text[text.index(after: text.startIndex)..<close])
            let rest = text[text.index(after: close)...]
            guard rest.hasPrefix(":") else { throw ParseError(description: "\"\(text)\": expected [ADDRESS]:PORT") }
            portText = rest.dropFirst()
        } else {
            guard let colon = text.lastIndex(of: ":") else {
                throw ParseError(description: "\"\(text)\": expected HOST:PORT, [IPv6]:PORT or unix:/path")
            }
            host = String(text[..<colon])
            portText = text[text.index(after: colon)...]
            // "ftp:127.0.0.1:1", "FASTCGI:...": a word and a colon before the
            // address is a protocol prefix we do not know, not a host name.
            if host.contains(":"), IPAddress(host) == nil {
                let word = host.prefix { $0 != ":" }
                let hint = ["uwsgi", "fastcgi", "scgi"].contains(word.lowercased()) ? "; prefixes are lower case" : ""
                throw ParseError(description: "\"\(text)\": unknown protocol '\(word)' (expected uwsgi:, fastcgi:, scgi: or none for HTTP\(hint))")
            }
        }
        guard let port = UInt16(portText) else {
            throw ParseError(description: "\"\(text)\": the port must be a number from 0 to 65535")
        }
        return .tcp(host: host.isEmpty ? "0.0.0.0" : host, port: port)
    }

    public var description: String {
        switch self {
        case let .tcp(host, port): return host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
        case let .unix(path): return "unix:\(path)"
        case let .inherited(name): return "fd:\(name)"
        }
    }
}
