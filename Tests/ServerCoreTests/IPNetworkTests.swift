import Testing
@testable import ServerCore

/// admin_allow's entries (issue 25).
@Suite struct IPNetworkTests {
    func ip(_ s: String) -> IPAddress { IPAddress(s)! }

    @Test func ipv4Blocks() throws {
        let n = try #require(IPNetwork("10.0.0.0/8"))
        #expect(n.contains(ip("10.1.2.3")) && n.contains(ip("::ffff:10.255.0.1")))
        #expect(!n.contains(ip("11.0.0.1")) && !n.contains(ip("::1")))
        let one = try #require(IPNetwork("127.0.0.1"))
        #expect(one.contains(ip("127.0.0.1")) && !one.contains(ip("127.0.0.2")))
        #expect(IPNetwork("0.0.0.0/0")!.contains(ip("192.0.2.1")))
        #expect(IPNetwork("192.168.0.0/23")!.contains(ip("192.168.1.9")))
        #expect(!IPNetwork("192.168.1.0/24")!.contains(ip("192.168.0.9")))
    }

    @Test func ipv6Blocks() throws {
        #expect(IPNetwork("::1")!.contains(ip("::1")))
        #expect(IPNetwork("fd00::/8")!.contains(ip("fd12:3456::1")))
        #expect(!IPNetwork("fd00::/8")!.contains(ip("fe80::1")))
        #expect(IPNetwork("2001:db8::/96")!.contains(ip("2001:db8::1:2")))
        #expect(!IPNetwork("2001:db8::/112")!.contains(ip("2001:db8::1:2")))
    }

    @Test func refusals() {
        for bad in ["10.0.0.0/33", "::/129", "10.0.0.0/", "host.example", "10.0.0.0/8/8", "/8", "10.0.0.0/-1", "10.0.0.0/ 8"] {
            #expect(IPNetwork(bad) == nil, "\(bad)")
        }
    }
}
