/// A bind entry's protocol prefix ("uwsgi:127.0.0.1:3031"): configuration
/// syntax, so it lives with the addresses, not with the wire.
extension ListenProtocol {
    /// Splits a bind entry into its protocol and its address text.
    public static func split(_ text: String) throws -> (ListenProtocol, String) {
        if text.hasPrefix("uwsgi:") { return (.uwsgi, String(text.dropFirst(6))) }
        if text.hasPrefix("scgi:") { return (.scgi, String(text.dropFirst(5))) }
        if text.hasPrefix("fastcgi:") { return (.fastcgi, String(text.dropFirst(8))) }
        return (.http, text)
    }

    /// A bind entry: its protocol and its address.
    public static func parse(_ text: String) throws -> (ListenProtocol, ListenAddress) {
        let (proto, rest) = try split(text)
        if !proto.bindPrefix.isEmpty, let (again, _) = try? split(rest), !again.bindPrefix.isEmpty {
            throw ListenAddress.ParseError(description: "\"\(text)\": two protocol prefixes, one at most")
        }
        return (proto, try ListenAddress.parse(rest))
    }
}
