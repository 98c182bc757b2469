import Testing
@testable import WorkerPool

// App threads per worker (threads = N), the master's side: the scoreboard
// slots a worker takes, and request timeouts of one thread among several,
// decided with a fake clock.

@Suite struct ScoreAllocation {
    @Test func aWorkerTakesOneSlotPerThreadLowestFirst() {
        var a = ScoreAllocator(capacity: 16)
        #expect(a.take(1) == [0])
        #expect(a.take(4) == [1, 2, 3, 4])
        #expect(a.available == 11)
    }

    @Test func slotsComeBackAndNeedNotBeAdjacent() {
        var a = ScoreAllocator(capacity: 8)
        let w1 = a.take(3)!, w2 = a.take(3)!
        #expect(w1 == [0, 1, 2] && w2 == [3, 4, 5])
        a.release(w1)
        let w3 = a.take(4)!
        #expect(w3 == [0, 1, 2, 6], "three freed slots and one never used")
        a.release(w2)
        a.release(w3)
        #expect(a.available == 8)
        #expect(a.take(8) == Array(0..<8))
    }

    @Test func aWorkerThatDoesNotFitTakesNothing() {
        var a = ScoreAllocator(capacity: 6)
        _ = a.take(4)
        #expect(a.take(4) == nil)
        #expect(a.available == 2, "a refused take leaves the free list as it was")
        #expect(a.take(0) == nil)
    }

    @Test func aReloadChangingThreadsGivesEachGenerationItsOwnCounts() {
        // generation 1 with threads = 1 (two workers), generation 2 with threads = 4
        var a = ScoreAllocator(capacity: 4096)
        let old = [a.take(1)!, a.take(1)!]
        let new = [a.take(4)!, a.take(4)!]
        #expect(old.map(\.count) == [1, 1] && new.map(\.count) == [4, 4])
        #expect(Set(old.flatMap { $0 } + new.flatMap { $0 }).count == 10, "no slot shared")
        for w in old { a.release(w) }
        #expect(a.available == 4096 - 8)
    }
}

fileprivate typealias TB = ThreadTimeouts.Busy

@Suite struct ThreadTimeoutRules {
    let t0: UInt64 = 1_000 * sec
    let timeout = 2 * sec
    let grace = 32 * sec

    @Test func aRequestPastTimeoutExpiresOnceAndSetsTheDeadline() {
        var tt = ThreadTimeouts()
        let busy: [Int32: [TB]] = [7: [TB(thread: 2, serial: 5, since: t0, request: "GET /slow"),
                                       TB(thread: 0, serial: 9, since: t0 + sec, request: "GET /fast")]]
        #expect(tt.observe(now: t0 + timeout, busy: busy, timeout: timeout, grace: grace).isEmpty, "exactly `timeout` is not past it")
        let e = tt.observe(now: t0 + timeout + 500 * msec, busy: busy, timeout: timeout, grace: grace)
        #expect(e == [.expired(pid: 7, thread: 2, serial: 5, seconds: 2, request: "GET /slow")])
        #expect(tt.stuck[7]?.deadline == t0 + timeout + 500 * msec + grace)
        let again = tt.observe(now: t0 + 3 * sec, busy: busy, timeout: timeout, grace: grace)
        #expect(again == [], "the same request is not timed out twice; thread 0's is 2 s old, not past it")
        let later = tt.observe(now: t0 + 3 * sec + 500 * msec, busy: busy, timeout: timeout, grace: grace)
        #expect(later == [.expired(pid: 7, thread: 0, serial: 9, seconds: 2, request: "GET /fast")])
        #expect(tt.stuck[7]?.deadline == t0 + timeout + 500 * msec + grace, "a second timeout keeps the first deadline")
        #expect(tt.stuck[7]?.threads == [2: 5, 0: 9])
    }

    @Test func aThreadThatComesBackClearsTheDeadline() {
        var tt = ThreadTimeouts()
        let stuckBusy: [Int32: [TB]] = [7: [TB(thread: 1, serial: 5, since: t0, request: "GET /slow")]]
        _ = tt.observe(now: t0 + 3 * sec, busy: stuckBusy, timeout: timeout, grace: grace)
        #expect(tt.stuck[7] != nil)
        // interrupted: the thread is on its next request (serial 6)
        let next: [Int32: [TB]] = [7: [TB(thread: 1, serial: 6, since: t0 + 4 * sec, request: "GET /next")]]
        #expect(tt.observe(now: t0 + 4 * sec, busy: next, timeout: timeout, grace: grace).isEmpty)
        #expect(tt.stuck[7] == nil)
        #expect(tt.observe(now: t0 + 100 * sec, busy: [:], timeout: timeout, grace: grace).isEmpty, "no kill for a worker that recovered")
    }

    @Test func stillStuckAtTheDeadlineIsOverdueOnce() {
        var tt = ThreadTimeouts()
        let busy: [Int32: [TB]] = [7: [TB(thread: 3, serial: 5, since: t0, request: "GET /slow")]]
        _ = tt.observe(now: t0 + 3 * sec, busy: busy, timeout: timeout, grace: grace)
        #expect(tt.observe(now: t0 + 3 * sec + grace - 1, busy: busy, timeout: timeout, grace: grace).isEmpty)
        #expect(tt.observe(now: t0 + 3 * sec + grace, busy: busy, timeout: timeout, grace: grace) == [.overdue(pid: 7, thread: 3)])
        #expect(tt.observe(now: t0 + 3 * sec + grace + sec, busy: busy, timeout: timeout, grace: grace).isEmpty)
    }

    @Test func timeoutZeroTimesNothingOut() {
        var tt = ThreadTimeouts()
        let busy: [Int32: [TB]] = [7: [TB(thread: 0, serial: 1, since: t0, request: "GET /x")]]
        #expect(tt.observe(now: t0 + 3600 * sec, busy: busy, timeout: 0, grace: grace).isEmpty)
    }
}

@Suite struct ThreadTimeoutSupervision {
    /// Two workers, timeout 2 s, graceful_timeout 10 s.
    func sim() -> Sim {
        var sim = Sim(workers: 2, timeout: 2, graceful: 10)
        sim.running()
        return sim
    }

    @Test func aThreadPastTimeoutIsAnsweredDumpedAndToldWithoutStoppingTheWorker() {
        var sim = sim()
        let pid = sim.pid(0)
        let threads: [Int32: [TB]] = [pid: [TB(thread: 1, serial: 4, since: sim.now, request: "GET /sleep?seconds=10"),
                                           TB(thread: 3, serial: 2, since: sim.now, request: "GET /report")]]
        #expect(sim.advanceThreads(2 * sec, threads).isEmpty)
        let a = sim.advanceThreads(500 * msec, threads)
        #expect(a.errors == ["worker \(pid) timed out after 2s on GET /sleep?seconds=10 (app thread 1)",
                             "worker \(pid) timed out after 2s on GET /report (app thread 3)"])
        let capture = a.firstIndex(of: .captureThreadClient(pid: pid, thread: 1, serial: 4))
        let dump = a.firstIndex(of: .dumpThreadStack(pid: pid, thread: 1))
        let tell = a.firstIndex(of: .interruptThread(pid: pid, thread: 1, serial: 4))
        #expect(capture != nil && dump != nil && tell != nil)
        if let capture, let dump, let tell { #expect(capture < dump && dump < tell, "504, then the stack, then the worker is told") }
        #expect(a.contains(.captureThreadClient(pid: pid, thread: 3, serial: 2)), "each thread's request is answered")
        #expect(a.signals.isEmpty, "no INT, no KILL: its other requests go on")
        #expect(a.spawns.isEmpty, "it is not asked to leave: it retires (and announces it) or recovers")
        #expect(sim.sup.workers[pid]?.state == .ready)
        // the same requests are not timed out again
        #expect(sim.advanceThreads(sec, threads).isEmpty)
    }

    @Test func theWorkerThatRetiresIsReplacedAndItsExitIsATimeout() {
        var sim = sim()
        let pid = sim.pid(0)
        let threads: [Int32: [TB]] = [pid: [TB(thread: 0, serial: 1, since: sim.now, request: "GET /spin")]]
        _ = sim.advanceThreads(3 * sec, threads)
        let a = sim.run(sim.sup.exiting(pid: pid, reason: .threadTimeout, now: sim.now))
        #expect(a.spawns == [0], "the replacement starts while it finishes its other requests")
        #expect(a.text.contains("a request of an app thread timed out"))
        let b = sim.exit(pid, clean)
        #expect(b.errors.isEmpty)
        #expect(sim.sup.slots[0]?.lastExit?.description == "timed out: retired")
        #expect(Arbiter.restartReason(.recycle(.threadTimeout), announced: .threadTimeout) == .timeout)
    }

    @Test func stillStuckAfterGracefulTimeoutIsKilledAndReplaced() {
        var sim = sim()
        let pid = sim.pid(0)
        let other = sim.pid(1)
        let threads: [Int32: [TB]] = [pid: [TB(thread: 2, serial: 1, since: sim.now, request: "GET /spin")]]
        _ = sim.advanceThreads(3 * sec, threads)   // timed out at +3 s
        // graceful_timeout 10 s + the dump's 0.5 s + 1 s
        var t: UInt64 = 0
        while t + sec < 11 * sec + 500 * msec {
            #expect(sim.advanceThreads(sec, threads).signals.isEmpty)
            t += sec
        }
        let a = sim.advanceThreads(11 * sec + 500 * msec - t, threads)
        #expect(a.signalled(Signals.kill) == [pid])
        #expect(a.spawns == [0])
        #expect(a.messages.contains { $0.contains("still on the timed-out request of app thread 2") && $0.contains("killed") })
        #expect(sim.sup.workers[other]?.state == .ready, "the other worker is untouched")
        #expect(sim.advanceThreads(sec, threads).signals.isEmpty, "KILL is sent once")
        let b = sim.exit(pid, killed)
        #expect(b.errors.isEmpty, "an expected exit")
        #expect(sim.sup.slots[0]?.lastExit?.leave == .timeout)
    }

    @Test func aThreadThatComesBackKeepsItsWorker() {
        var sim = sim()
        let pid = sim.pid(0)
        let stuck: [Int32: [TB]] = [pid: [TB(thread: 0, serial: 1, since: sim.now, request: "GET /spin")]]
        _ = sim.advanceThreads(3 * sec, stuck)
        // the worker interrupted it (a Python thread): idle from here
        for _ in 0..<30 { #expect(sim.advanceThreads(sec, [:]).signals.isEmpty) }
        #expect(sim.sup.workers[pid]?.state == .ready)
    }

    @Test func workersWithThreadsStillAnswerForSilence() {
        var sim = sim()
        let pid = sim.pid(0)
        let threads: [Int32: [TB]] = [pid: [TB(thread: 0, serial: 1, since: sim.now, request: "GET /spin")]]
        // its event loop stopped heartbeating (every thread busy does not excuse it)
        var a: [Action] = []
        for _ in 0..<11 { a += sim.advanceThreads(sec, threads, silent: [pid]) }
        #expect(a.signalled(Signals.kill) == [pid])
        #expect(a.text.contains("no heartbeat"))
    }
}

extension Sim {
    /// As advance, with busy app threads of workers with several.
    @discardableResult
    mutating func advanceThreads(_ ns: UInt64, _ threads: [Int32: [ThreadTimeouts.Busy]], silent: Set<Int32> = []) -> [Action] {
        now += ns
        var actions: [Action] = []
        for w in sup.sortedWorkers where !silent.contains(w.pid) && w.state == .ready {
            actions += run(sup.heartbeat(pid: w.pid, requests: w.requests, ussKB: 1024, pssKB: 512, now: now))
        }
        return actions + run(sup.tick(now: now, busy: [:], threads: threads))
    }
}
