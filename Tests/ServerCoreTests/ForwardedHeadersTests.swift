import Testing
#if canImport(Glibc)
import Glibc
#endif
@testable import ServerCore

/// ForwardedHeaders decides REMOTE_ADDR and the scheme from a parsed head.
@Suite struct ForwardedHeadersTests {
    static let proxy = ForwardedHeaders.Peer.ip(IPAddress("127.0.0.1")!)
    static let stranger = ForwardedHeaders.Peer.ip(IPAddress("198.51.100.1")!)
    static let policy = ForwardedHeaders.Policy(trusted: ["127.0.0.1", "::1", "unix", "10.0.0.2", "10.0.0.3"])

    /// Parses a GET with `fields` ("Name: value" lines) and asks `ask` about it.
    func with<T>(_ fields: [String], target: String = "/", peer: ForwardedHeaders.Peer = proxy,
                 policy: ForwardedHeaders.Policy = policy, _ ask: (ForwardedHeaders) -> T) -> T {
        let raw = Array(("GET \(target) HTTP/1.1\r\nHost: a\r\n" + fields.map { $0 + "\r\n" }.joined() + "\r\n").utf8)
        var head = RequestHead(fieldCapacity: 100)
        return raw.withUnsafeBufferPointer { p in
            let e = HeadParser.parse(p.baseAddress!, start: 0, end: raw.count, limits: HTTPLimits(), into: &head)
            precondition(e == nil, "\(String(describing: e))")
            return ask(ForwardedHeaders(head: head, buffer: p.baseAddress!, policy: policy, peer: peer))
        }
    }

    func client(_ xff: String..., peer: ForwardedHeaders.Peer = proxy,
                policy: ForwardedHeaders.Policy = policy) -> String? {
        with(xff.map { "X-Forwarded-For: \($0)" }, peer: peer, policy: policy) { $0.clientAddress }
    }

    func secure(_ fields: String..., target: String = "/", peer: ForwardedHeaders.Peer = proxy,
                policy: ForwardedHeaders.Policy = policy) -> Bool {
        with(fields, target: target, peer: peer, policy: policy) { $0.isSecure }
    }

    @Test func allLinesOfTheFieldInOrder() {
        #expect(client("6.6.6.6", "203.0.113.9") == "203.0.113.9")
        #expect(client("6.6.6.6, 7.7.7.7", "203.0.113.9, 127.0.0.1") == "203.0.113.9")
        #expect(client("203.0.113.9", "10.0.0.3", "10.0.0.2") == "203.0.113.9")
        // other fields between the lines change nothing
        #expect(with(["X-Forwarded-For: 6.6.6.6", "X-Other: 1", "x-forwarded-for: 203.0.113.9"]) { $0.clientAddress }
                == "203.0.113.9")
    }

    @Test func rightmostUntrustedEntry() {
        #expect(client("1.1.1.1, 2.2.2.2, 203.0.113.9") == "203.0.113.9")
        #expect(client("1.1.1.1, 203.0.113.9, 10.0.0.3, 10.0.0.2") == "203.0.113.9")
        #expect(client("203.0.113.9,10.0.0.2") == "203.0.113.9")
        #expect(client("2001:db8::1, 0:0:0:0:0:0:0:1") == "2001:db8::1")
        #expect(client("203.0.113.9, ::ffff:127.0.0.1") == "203.0.113.9")
        // every entry a trusted proxy: the leftmost
        #expect(client("10.0.0.3, 10.0.0.2") == "10.0.0.3")
    }

    @Test(arguments: ["not-an-ip", "1.2.3.4:5678", "[2001:db8::1]", "[2001:db8::1]:80", "1.2.3", "1.2.3.256",
                      "01.2.3.4", "2001:db8::1%eth0", "1.2.3.4 5.6.7.8", "unknown", "_hidden",
                      "203.0.113.9, not-an-ip", "203.0.113.9, 1.2.3.4:80", String(repeating: "1", count: 100)])
    func invalidEntriesKeepThePeer(_ xff: String) {
        #expect(client(xff) == nil, "\(xff)")
    }

    @Test func emptyEntriesAreSkipped() {
        #expect(client("") == nil)
        #expect(client(" , ") == nil)
        #expect(client("203.0.113.9, ") == "203.0.113.9")
        #expect(client(" 203.0.113.9 ") == "203.0.113.9")
        #expect(client("2001:DB8::A") == "2001:DB8::A")
    }

    @Test func untrustedPeersAreNotBelieved() {
        #expect(client("203.0.113.9", peer: Self.stranger) == nil)
        #expect(client("203.0.113.9", peer: .other) == nil)
        #expect(client("203.0.113.9", peer: .unix) == "203.0.113.9")
        let noUnix = ForwardedHeaders.Policy(trusted: ["127.0.0.1"])
        #expect(client("203.0.113.9", peer: .unix, policy: noUnix) == nil)
        #expect(!secure("X-Forwarded-Proto: https", peer: Self.stranger))
        #expect(!secure(target: "https://example.com/", peer: Self.stranger))
        #expect(!secure(target: "HTTPS://example.com/", peer: Self.stranger))
    }

    @Test func anyPeerTrustsThePeerNotTheEntries() {
        let any = ForwardedHeaders.Policy(trusted: ["*"])
        #expect(client("1.1.1.1, 203.0.113.9", peer: Self.stranger, policy: any) == "203.0.113.9")
        #expect(secure("X-Forwarded-Ssl: on", peer: .other, policy: any))
    }

    @Test func defaultSecureSchemeHeaders() {
        #expect(secure("X-Forwarded-Proto: https"))
        #expect(secure("X-Forwarded-Proto: HTTPS"))
        #expect(secure("X-Forwarded-Protocol: ssl"))
        #expect(secure("x-forwarded-ssl: on"))
        #expect(!secure())
        #expect(!secure("X-Forwarded-Proto: http"))
        #expect(!secure("X-Forwarded-Proto: https2"))
        #expect(!secure("X-Forwarded-Ssl: off"))
        #expect(!secure("X-Forwarded-Scheme: https"))
    }

    @Test func headersThatDisagreeAreNotHTTPS() {
        #expect(!secure("X-Forwarded-Proto: https", "X-Forwarded-Ssl: off"))
        #expect(!secure("X-Forwarded-Ssl: off", "X-Forwarded-Proto: https"))
        #expect(!secure("X-Forwarded-Proto: https", "X-Forwarded-Proto: http"))
        #expect(!secure("X-Forwarded-Proto: https, http"))
        #expect(secure("X-Forwarded-Proto: https", "X-Forwarded-Ssl: on"))
        // the headers decide over the target
        #expect(!secure("X-Forwarded-Proto: http", target: "https://example.com/"))
    }

    @Test func absoluteFormTarget() {
        #expect(secure(target: "https://example.com/"))
        #expect(secure(target: "HTTPS://example.com:8443/x"))
        #expect(!secure(target: "http://example.com/"))
    }

    @Test func configuredSecureSchemeHeaders() {
        let custom = ForwardedHeaders.Policy(trusted: ["127.0.0.1"], secureSchemeHeaders: [("X-Scheme", "https")])
        #expect(secure("X-Scheme: https", policy: custom))
        #expect(!secure("X-Forwarded-Proto: https", policy: custom))
        let none = ForwardedHeaders.Policy(trusted: ["127.0.0.1"], secureSchemeHeaders: [])
        #expect(!secure("X-Forwarded-Proto: https", policy: none))
    }
}

@Suite struct IPAddressTests {
    @Test func equalForms() {
        #expect(IPAddress("::1") == IPAddress("0:0:0:0:0:0:0:1"))
        #expect(IPAddress("127.0.0.1") == IPAddress("::ffff:127.0.0.1"))
        #expect(IPAddress("2001:DB8::A") == IPAddress("2001:db8:0::a"))
        #expect(IPAddress("127.0.0.1") != IPAddress("127.0.0.2"))
        #expect(IPAddress("::1") != IPAddress("127.0.0.1"))
    }

    @Test(arguments: ["", "localhost", "1.2.3", "1.2.3.4.5", "256.1.1.1", "01.2.3.4", "1.2.3.4:80", "[::1]",
                      "::1%lo", " 1.2.3.4", "1.2.3.4 ", "::g", "1::2::3"])
    func invalid(_ text: String) {
        #expect(IPAddress(text) == nil, "\(text)")
    }

    @Test func fromASocketAddress() {
        var storage = sockaddr_storage()
        let v4 = withUnsafeMutablePointer(to: &storage) { p -> IPAddress? in
            p.withMemoryRebound(to: sockaddr_in.self, capacity: 1) {
                $0.pointee.sin_family = sa_family_t(AF_INET)
                $0.pointee.sin_addr.s_addr = UInt32(0x7F00_0001).bigEndian
            }
            return IPAddress(p, length: socklen_t(MemoryLayout<sockaddr_in>.size))
        }
        #expect(v4 == IPAddress("127.0.0.1"))
        storage = sockaddr_storage()
        let v6 = withUnsafeMutablePointer(to: &storage) { p -> IPAddress? in
            p.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) {
                $0.pointee.sin6_family = sa_family_t(AF_INET6)
                withUnsafeMutableBytes(of: &$0.pointee.sin6_addr) { $0[15] = 1 }
            }
            return IPAddress(p, length: socklen_t(MemoryLayout<sockaddr_in6>.size))
        }
        #expect(v6 == IPAddress("::1"))
        storage = sockaddr_storage()
        #expect(withUnsafePointer(to: &storage) { IPAddress($0, length: 2) } == nil)
    }
}
