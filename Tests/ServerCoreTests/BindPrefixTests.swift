import Testing
@testable import ServerCore

/// A bind entry's protocol prefix (ListenProtocol+Bind.swift).
@Suite struct BindPrefixTests {
    @Test func proxiedProtocols() throws {
        #expect(try ListenProtocol.parse("uwsgi:127.0.0.1:3031") == (.uwsgi, .tcp(host: "127.0.0.1", port: 3031)))
        #expect(try ListenProtocol.parse("scgi:[::1]:4000") == (.scgi, .tcp(host: "::1", port: 4000)))
        #expect(try ListenProtocol.parse("scgi:unix:/run/g.sock") == (.scgi, .unix(path: "/run/g.sock")))
        #expect(try ListenProtocol.parse("uwsgi:fd:web") == (.uwsgi, .inherited(name: "web")))
        #expect(try ListenProtocol.parse("127.0.0.1:80") == (.http, .tcp(host: "127.0.0.1", port: 80)))
        #expect(throws: ListenAddress.ParseError.self) { try ListenProtocol.parse("uwsgi:nothing") }
    }

    @Test func fastcgi() throws {
        #expect(try ListenProtocol.parse("fastcgi:127.0.0.1:9000") == (.fastcgi, .tcp(host: "127.0.0.1", port: 9000)))
        #expect(try ListenProtocol.parse("fastcgi:unix:/run/gatewayd/fcgi.sock") == (.fastcgi, .unix(path: "/run/gatewayd/fcgi.sock")))
        #expect(try ListenProtocol.parse("fastcgi:fd:web") == (.fastcgi, .inherited(name: "web")))
        #expect(throws: ListenAddress.ParseError.self) { try ListenProtocol.parse("fastcgi:nothing") }
    }
}
