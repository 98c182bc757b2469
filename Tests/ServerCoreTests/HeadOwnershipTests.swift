import Testing
@testable import ServerCore

/// Which thread's parsed head a request may be served with
/// (RequestContext.parsedHead/holdsHead). Found as a flaky "bad echo" in
/// LoopThreadsTests under load: a thread kept the head of a request another
/// thread served, and later took that connection's next request from the
/// ready queue with the old head (the app was given GET / for a POST /echo).
@Suite struct HeadOwnershipTests {
    func context() -> RequestContext {
        RequestContext(identity: WorkerIdentity(id: 0, generation: 1, pid: 1), limits: HTTPLimits(Config()), bodyTimeout: 5,
                       trustedProxies: [], appData: nil)
    }

    @Test func aHeadServedElsewhereDoesNotPassForTheConnectionsNextRequest() {
        let c = Connection(fd: -1, listener: 0, capacity: 64, now: 0)
        let t = context(), v = context()
        t.parsedHead(of: c)  // request 1, parsed on T, served by another thread
        #expect(t.holdsHead(of: c))
        v.parsedHead(of: c)  // request 2, parsed on V and queued
        #expect(!t.holdsHead(of: c), "T would serve request 2 with request 1's head")
        #expect(v.holdsHead(of: c))
    }

    @Test func aHeadDoesNotPassForAnotherClientOnTheReusedConnection() {
        let c = Connection(fd: -1, listener: 0, capacity: 64, now: 0)
        let t = context(), v = context()
        t.parsedHead(of: c)  // client A's only request (Connection: close), served by another thread
        c.reuse(fd: -1, listener: 0, now: 1)  // closed, back from the spare pool for client B
        v.parsedHead(of: c)  // client B's first request
        #expect(!t.holdsHead(of: c), "T would serve client B with client A's head")
    }
}
