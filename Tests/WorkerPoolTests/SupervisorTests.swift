import Testing
@testable import WorkerPool

// The master's supervision decisions, driven by Sim (Sim.swift): a fake clock
// (plain nanoseconds) and fake pids: no fork, no signal, no sleep.

// MARK: start-up

@Suite struct StartUp {
    @Test func startSpawnsOneWorkerPerSlot() {
        var sim = Sim(workers: 3)
        let actions = sim.start()
        #expect(actions == [.spawn(slot: 0, generation: 1), .spawn(slot: 1, generation: 1), .spawn(slot: 2, generation: 1)])
        #expect(sim.sup.phase == .starting)
        #expect(sim.sup.workers.count == 3)
        #expect(sim.sup.workers.values.allSatisfy { $0.state == .booting })
        #expect(Set(sim.sup.workers.values.map(\.slot)) == [0, 1, 2])
    }

    @Test func readyOnlyAfterEveryWorkerBooted() {
        var sim = Sim(workers: 3)
        sim.start()
        let pids = sim.sup.sortedWorkers.map(\.pid)
        for pid in pids.dropLast() {
            let a = sim.run(sim.sup.booted(pid: pid, appName: "testapp", now: sim.now))
            #expect(!a.contains(.ready))
            #expect(sim.sup.phase == .starting)
        }
        let a = sim.run(sim.sup.booted(pid: pids.last!, appName: "testapp", now: sim.now))
        #expect(a.contains(.ready))
        #expect(a.text.contains("3 workers ready"))
        #expect(sim.sup.phase == .running)
        // a later boot (a replacement) does not announce readiness again
        sim.now += 60 * sec
        let b = sim.exit(sim.pid(1), abrtCore)
        #expect(b.spawns == [1])
        #expect(!sim.bootAll().contains(.ready))
    }

    @Test func bootFailureAtStartHaltsWithTheAppsMessage() {
        var sim = Sim(workers: 3)
        sim.start()
        let pids = sim.sup.sortedWorkers.map(\.pid)
        sim.run(sim.sup.booted(pid: pids[0], appName: "testapp", now: sim.now))
        let a = sim.run(sim.sup.bootFailed(pid: pids[1], reason: "testapp: database unreachable", now: sim.now))
        #expect(a.halt?.code == 3)
        #expect(a.halt?.reason == "testapp: database unreachable")
        #expect(a.contains(.closeListeners))
        #expect(Set(a.signalled(Signals.kill)) == Set(pids))
        #expect(a.spawns.isEmpty)
        #expect(sim.sup.phase == .halted)
        // nothing is respawned while the workers are reaped
        for pid in pids {
            #expect(sim.exit(pid, pid == pids[1] ? ExitStatus(code: 3) : killed).spawns.isEmpty)
        }
        #expect(sim.advance(5 * sec).isEmpty)
    }

    @Test(arguments: [
        ExitStatus(code: nil, signal: Signals.abrt, coreDumped: true),
        ExitStatus(code: nil, signal: Signals.segv),
        ExitStatus(code: 3),
        ExitStatus(code: 4),
        ExitStatus(code: 1),
    ])
    func workerDyingWhileBootingAtStartHalts(status: WorkerPool.ExitStatus) {
        var sim = Sim(workers: 2)
        sim.start()
        let pids = sim.sup.sortedWorkers.map(\.pid)
        let a = sim.exit(pids[0], status)
        #expect(a.halt?.code == 3)
        #expect(a.halt?.reason.contains("\(status)") == true)
        #expect(a.signalled(Signals.kill) == [pids[1]])
        #expect(a.spawns.isEmpty)
    }

    @Test func crashWithSignalNameInTheHaltReason() {
        var sim = Sim(workers: 1)
        sim.start()
        let a = sim.exit(sim.sup.sortedWorkers[0].pid, abrtCore)
        #expect(a.halt?.reason.contains("SIGABRT") == true)
    }

    @Test(arguments: [Int32(3), Int32(4)])
    func bootedWorkerExitingWithABootCodeAtStartHalts(code: Int32) {
        // one worker already booted, the other reports its failure only by its exit code
        var sim = Sim(workers: 2)
        sim.start()
        let pids = sim.sup.sortedWorkers.map(\.pid)
        sim.run(sim.sup.booted(pid: pids[0], appName: "testapp", now: sim.now))
        let a = sim.exit(pids[1], ExitStatus(code: code))
        #expect(a.halt?.code == 3)
        #expect(a.signalled(Signals.kill) == [pids[0]])
    }

    @Test func silencePastBootTimeoutAtStartHalts() {
        var sim = Sim(workers: 2, bootTimeout: 5)
        sim.start()
        let pids = sim.sup.sortedWorkers.map(\.pid)
        sim.run(sim.sup.booted(pid: pids[0], appName: "testapp", now: sim.now))
        #expect(sim.advance(5 * sec).halt == nil)
        let a = sim.advance(100 * msec)
        #expect(a.halt?.code == 3)
        #expect(a.halt?.reason.contains("boot_timeout") == true)
        #expect(a.halt?.reason.contains("\(pids[1])") == true)
        #expect(Set(a.signalled(Signals.kill)) == Set(pids))
        #expect(a.contains(.closeListeners))
        #expect(sim.sup.phase == .halted)
    }

    @Test func bootTimeoutAfterStartUpKillsAndCountsAsABootCrash() {
        var sim = Sim(workers: 2, bootTimeout: 5)
        sim.running()
        sim.now += 60 * sec
        sim.exit(sim.pid(0), abrtCore)            // replaced at once, stays booting
        let stuck = sim.pid(0)
        let a = sim.advance(5 * sec + 100 * msec)
        #expect(a.halt == nil)
        #expect(a.signalled(Signals.kill) == [stuck])
        #expect(a.text.contains("boot_timeout"))
        let b = sim.exit(stuck, killed)
        // never booted: a boot crash (counted, logged with the backoff), not a reset
        #expect(b.text.contains("next spawn in"))
        #expect(sim.sup.slots[0]?.bootCrashes == 1)
        #expect(b.spawns == [0])
    }
}

// MARK: crashes and backoff

@Suite struct Crashes {
    @Test func crashAfterBootIsLoggedWithSignalCoreAndRequestAndReplacedAtOnce() {
        var sim = Sim(workers: 2)
        sim.running()
        sim.now += 60 * sec
        let pid = sim.pid(0)
        let a = sim.exit(pid, abrtCore, request: "GET /crash")
        #expect(a.errors.count == 1)
        let line = a.errors.first ?? ""
        #expect(line.contains("\(pid)"))
        #expect(line.contains("SIGABRT"))
        #expect(line.contains("core dumped"))
        #expect(line.contains("GET /crash"))
        #expect(a.spawns == [0])
        #expect(!a.text.contains("next spawn in"))
        #expect(sim.sup.live(slot: 0) != nil && sim.pid(0) != pid)
    }

    @Test func crashWithoutCoreOrByExitCode() {
        var sim = Sim(workers: 2)
        sim.running()
        sim.now += 60 * sec
        let a = sim.exit(sim.pid(0), ExitStatus(code: nil, signal: Signals.segv))
        #expect(a.errors.first?.contains("SIGSEGV") == true)
        #expect(a.errors.first?.contains("core") == false)
        sim.bootAll()
        sim.now += 60 * sec
        let b = sim.exit(sim.pid(1), ExitStatus(code: 1))
        #expect(b.errors.first?.contains("exited with code 1") == true)
        #expect(b.spawns == [1])
    }

    @Test func backoffSchedule() {
        let sup = Supervisor(settings: .init(workers: 1, timeout: 30, bootTimeout: 30, gracefulTimeout: 30))
        let expected: [UInt64] = [0, 100, 200, 400, 800, 1600, 3200, 6400, 10_000, 10_000]
        for (i, ms) in expected.enumerated() {
            #expect(sup.backoff(i + 1) == ms * msec, "crash \(i + 1)")
        }
        #expect(sup.backoff(64) == 10 * sec)
        #expect(sup.backoff(10_000) == 10 * sec)
    }

    @Test func repeatedBootCrashesBackOffAndSpawnOnlyWhenDue() {
        var sim = Sim(workers: 2)
        sim.running()
        let delays: [UInt64] = [0, 100, 200, 400, 800, 1600, 3200, 6400, 10_000, 10_000, 10_000].map { $0 * msec }
        let texts = ["0.000s", "0.100s", "0.200s", "0.400s", "0.800s", "1.600s", "3.200s", "6.400s", "10.000s", "10.000s", "10.000s"]
        for (i, delay) in delays.enumerated() {
            // the slot-0 worker boots, then aborts half a second later
            sim.bootAll()
            sim.advance(500 * msec)
            let pid = sim.pid(0)
            let a = sim.exit(pid, abrtCore)
            #expect(a.errors.contains(where: { $0.contains("SIGABRT") }), "crash \(i + 1)")
            #expect(a.text.contains("crashed \(i + 1) time"), "crash \(i + 1): \(a.text)")
            #expect(a.text.contains("next spawn in \(texts[i])"), "crash \(i + 1): \(a.text)")
            #expect(sim.sup.slots[0]?.bootCrashes == i + 1)
            if delay == 0 {
                #expect(a.spawns == [0])
                continue
            }
            #expect(a.spawns.isEmpty, "crash \(i + 1): spawned before the backoff")
            #expect(sim.sup.live(slot: 0) == nil)
            // not due yet: a few ticks, none spawns
            var t: UInt64 = 0
            while t + 100 * msec < delay {
                t += 100 * msec
                #expect(sim.advance(100 * msec).spawns.isEmpty, "crash \(i + 1) at +\(t / msec) ms")
            }
            // due: exactly one spawn for slot 0
            let due = sim.advance(delay - t)
            #expect(due.spawns == [0], "crash \(i + 1)")
            #expect(sim.advance(100 * msec).spawns.isEmpty)
            // the other slot was never touched
            #expect(sim.sup.live(slot: 1)?.pid == 1001)
        }
    }

    @Test func workerCrashingWhileBootingAfterStartUpBacksOffInsteadOfHalting() {
        var sim = Sim(workers: 2)
        sim.running()
        sim.now += 60 * sec
        sim.exit(sim.pid(0), abrtCore)
        // the replacement fails to load the app: no halt once running
        let p = sim.pid(0)
        let a = sim.run(sim.sup.bootFailed(pid: p, reason: "testapp: database unreachable", now: sim.now))
        #expect(a.halt == nil)
        #expect(a.text.contains("database unreachable"))
        let b = sim.exit(p, ExitStatus(code: 3))
        #expect(b.halt == nil)
        #expect(sim.sup.phase == .running)
        #expect(sim.sup.slots[0]?.bootCrashes == 1)
        #expect(b.spawns == [0])
        // and again: now it waits
        let c = sim.exit(sim.pid(0), ExitStatus(code: 3))
        #expect(c.halt == nil)
        #expect(sim.sup.slots[0]?.bootCrashes == 2)
        #expect(c.spawns.isEmpty)
        #expect(sim.advance(100 * msec).spawns == [0])
    }

    @Test func crashCounterResetsAfterAStableWorker() {
        var sim = Sim(workers: 1)
        sim.running()
        for _ in 0..<4 {
            sim.bootAll()
            sim.advance(200 * msec)
            sim.exit(sim.pid(0), abrtCore)
            for _ in 0..<20 { sim.advance(100 * msec) }
        }
        #expect(sim.sup.slots[0]?.bootCrashes == 4)
        // this one lives longer than the crash window
        sim.bootAll()
        for _ in 0..<6 { sim.advance(sec) }
        let a = sim.exit(sim.pid(0), abrtCore)
        #expect(a.spawns == [0], "a crash of a stable worker is replaced at once")
        #expect(!a.text.contains("next spawn in"))
        #expect(sim.sup.slots[0]?.bootCrashes == 0)
        // so the next boot crash starts the backoff from the beginning
        sim.bootAll()
        sim.advance(200 * msec)
        let b = sim.exit(sim.pid(0), abrtCore)
        #expect(b.text.contains("crashed 1 time in a row"))
        #expect(b.spawns == [0])
    }

    @Test func unannouncedCleanExitOfABootedWorkerIsNoCrash() {
        // e.g. its `exiting` message was still unread when it was reaped
        var sim = Sim(workers: 2)
        sim.running()
        sim.advance(200 * msec)
        sim.exit(sim.pid(0), abrtCore)            // a real boot crash first
        sim.bootAll()
        sim.advance(200 * msec)
        let a = sim.exit(sim.pid(0), clean)
        #expect(a.errors.isEmpty, "exit code 0 is no crash: \(a.errors)")
        #expect(!a.text.contains("crashed"))
        #expect(a.spawns == [0], "replaced at once")
        #expect((sim.sup.slots[0]?.bootCrashes ?? 0) == 0)
    }

    @Test func cleanExitBeforeBootingIsABootCrash() {
        var sim = Sim(workers: 2)
        sim.running()
        sim.now += 60 * sec
        sim.exit(sim.pid(0), abrtCore)
        let a = sim.exit(sim.pid(0), clean)       // the replacement never booted
        #expect(a.errors.first?.contains("exited with code 0") == true)
        #expect(sim.sup.slots[0]?.bootCrashes == 1)
        #expect(a.text.contains("next spawn in"))
    }

    @Test func cleanRecycleResetsTheCounter() {
        var sim = Sim(workers: 1)
        sim.running()
        sim.advance(200 * msec)
        sim.exit(sim.pid(0), abrtCore)
        sim.bootAll()
        sim.advance(200 * msec)
        sim.exit(sim.pid(0), abrtCore)
        sim.advance(100 * msec)
        #expect(sim.sup.slots[0]?.bootCrashes == 2)
        sim.bootAll()
        let old = sim.pid(0)
        sim.run(sim.sup.exiting(pid: old, reason: .maxRequests, now: sim.now))
        sim.exit(old, clean)
        #expect(sim.sup.slots[0]?.bootCrashes == 0)
    }
}

// MARK: timeouts, silence, memory, recycling

@Suite struct Health {
    @Test func busyPastTimeoutIsTerminatedReplacedKilledAndAnswered() {
        var sim = Sim(workers: 2, timeout: 2)
        sim.running()
        let pid = sim.pid(0)
        let since = sim.now
        let busy = [pid: Supervisor.Busy(since: since, request: "GET /sleep?seconds=10")]
        #expect(sim.advance(sec, busy: busy).isEmpty)
        #expect(sim.advance(sec, busy: busy).isEmpty, "exactly `timeout` is not past it")
        let a = sim.advance(500 * msec, busy: busy)
        #expect(a.errors == ["worker \(pid) timed out after 2s on GET /sleep?seconds=10"])
        let capture = a.firstIndex(of: .captureClient(pid: pid))
        let dump = a.firstIndex(of: .dumpStack(pid: pid))
        let term = a.firstIndex(of: .signal(pid: pid, signal: Signals.int))
        #expect(capture != nil && dump != nil && term != nil)
        if let capture, let dump, let term {
            #expect(capture < dump && dump < term, "the client is captured, then the stack dumped, then the worker stopped")
        }
        #expect(a.signalled(Signals.kill).isEmpty)
        #expect(a.spawns == [0], "the replacement is spawned at once")
        let replacement = sim.pid(0)
        #expect(replacement != pid)
        // the grace (the dump's 0.5 s, then INT's second): no KILL yet, and no signal repeated
        let b = sim.advance(500 * msec, busy: busy)
        #expect(b.signals.isEmpty)
        #expect(sim.advance(500 * msec, busy: busy).signals.isEmpty)
        let c = sim.advance(500 * msec, busy: busy)
        #expect(c.signalled(Signals.kill) == [pid])
        #expect(c.spawns.isEmpty)
        #expect(sim.advance(sec, busy: busy).signals.isEmpty, "KILL is sent once")
        // reaped: the captured client is answered; no crash log, no second spawn
        let d = sim.exit(pid, killed)
        #expect(d.isEmpty, "the client was answered when the timeout was decided (captureClient)")
        #expect(sim.pid(0) == replacement)
        #expect((sim.sup.slots[0]?.bootCrashes ?? 0) == 0)
    }

    @Test func timedOutWorkerExitingBeforeTheKillIsStillAnswered() {
        var sim = Sim(workers: 1, timeout: 3)
        sim.running()
        let pid = sim.pid(0)
        let busy = [pid: Supervisor.Busy(since: sim.now, request: "POST /upload")]
        let a = sim.advance(4 * sec, busy: busy)
        #expect(a.errors.first?.contains("timed out after 4s on POST /upload") == true)
        let b = sim.exit(pid, clean)
        #expect(b.isEmpty)
        #expect(sim.advance(2 * sec).signals.isEmpty)
    }

    @Test func timeoutZeroDisablesRequestTimeouts() {
        var sim = Sim(workers: 1, timeout: 0)
        sim.running()
        let pid = sim.pid(0)
        let busy = [pid: Supervisor.Busy(since: sim.now, request: "GET /sleep?seconds=3600")]
        for _ in 0..<120 {
            let a = sim.advance(30 * sec, busy: busy)
            #expect(a.isEmpty)
        }
        #expect(sim.sup.workers[pid]?.state == .ready)
    }

    @Test func silentWorkerIsKilledAndReplaced() {
        var sim = Sim(workers: 2, timeout: 30)
        sim.running()
        let pid = sim.pid(0)
        for _ in 0..<30 {
            #expect(sim.advance(sec, silent: [pid]).isEmpty)
        }
        let a = sim.advance(sec, silent: [pid])
        #expect(a.signalled(Signals.kill) == [pid])
        #expect(a.text.contains("no heartbeat"))
        #expect(a.spawns == [0])
        let b = sim.exit(pid, killed)
        #expect(b.spawns.isEmpty)
        #expect(b.errors.isEmpty)
    }

    @Test func silenceUsesTenSecondsWhenTimeoutIsShorterOrOff() {
        for timeout in [0, 2] {
            var sim = Sim(workers: 1, timeout: timeout)
            sim.running()
            let pid = sim.pid(0)
            for _ in 0..<10 {
                #expect(sim.advance(sec, silent: [pid]).isEmpty, "timeout \(timeout)")
            }
            let a = sim.advance(sec, silent: [pid])
            #expect(a.signalled(Signals.kill) == [pid], "timeout \(timeout)")
            #expect(a.spawns == [0], "timeout \(timeout)")
        }
    }

    @Test func busyWorkerIsNotSilent() {
        var sim = Sim(workers: 1, timeout: 60)
        sim.running()
        let pid = sim.pid(0)
        let busy = [pid: Supervisor.Busy(since: sim.now, request: "GET /sleep?seconds=50")]
        for _ in 0..<55 { #expect(sim.advance(sec, busy: busy).isEmpty) }
    }

    @Test func memoryHardCapKillsAndReplaces() {
        var sim = Sim(workers: 2) { $0.memoryHardKB = 100 * 1024 }
        sim.running()
        let pid = sim.pid(1)
        #expect(sim.run(sim.sup.heartbeat(pid: pid, requests: 5, ussKB: 90 * 1024, pssKB: 95 * 1024, now: sim.now)).isEmpty)
        let a = sim.run(sim.sup.heartbeat(pid: pid, requests: 6, ussKB: 150 * 1024, pssKB: 151 * 1024, now: sim.now))
        #expect(a.signalled(Signals.kill) == [pid])
        #expect(a.text.contains("max_worker_memory_hard"))
        #expect(a.text.contains("150 MB"))
        #expect(a.spawns == [1])
        // a late heartbeat before it is reaped: no second KILL, no second spawn
        let b = sim.run(sim.sup.heartbeat(pid: pid, requests: 6, ussKB: 160 * 1024, pssKB: 161 * 1024, now: sim.now))
        #expect(b.isEmpty)
        let c = sim.exit(pid, killed)
        #expect(c.spawns.isEmpty)
        #expect(c.errors.isEmpty)
        #expect(sim.sup.liveCount == 2)
    }

    @Test func noHardCapByDefault() {
        var sim = Sim(workers: 1)
        sim.running()
        #expect(sim.run(sim.sup.heartbeat(pid: sim.pid(0), requests: 1, ussKB: 64 << 20, pssKB: 64 << 20, now: sim.now)).isEmpty)
    }

    @Test(arguments: [HealthMessage.ExitReason.maxRequests, .memoryLimit])
    func recyclingSpawnsTheReplacementBeforeTheOldWorkerExits(reason: HealthMessage.ExitReason) {
        var sim = Sim(workers: 2)
        sim.running()
        let old = sim.pid(0)
        let a = sim.run(sim.sup.exiting(pid: old, reason: reason, now: sim.now))
        #expect(a.spawns == [0])
        #expect(a.text.contains("recycling: \(reason)"))
        let replacement = sim.pid(0)
        #expect(replacement != old)
        #expect(sim.sup.workers[old]?.state == .leaving(.recycle(reason), killAt: sim.now + 30 * sec))
        // announced twice (shutdown after max_requests): nothing more
        #expect(sim.run(sim.sup.exiting(pid: old, reason: .shutdown, now: sim.now)).isEmpty)
        sim.bootAll()
        // the old worker finishes its request and exits: no duplicate spawn, no error
        sim.advance(sec)
        let b = sim.exit(old, clean)
        #expect(b.spawns.isEmpty)
        #expect(b.errors.isEmpty)
        #expect(sim.sup.workers.count == 2)
        #expect(sim.pid(0) == replacement)
        #expect(sim.advance(sec).spawns.isEmpty)
    }

    @Test func maxRequestsTextsNameTheSettings() {
        #expect("\(HealthMessage.ExitReason.maxRequests)".contains("max_requests"))
        #expect("\(HealthMessage.ExitReason.memoryLimit)".contains("max_worker_memory"))
    }
}

// MARK: stopping

@Suite struct Stopping {
    @Test func gracefulStopTermsEveryWorkerAndExitsWhenTheLastIsReaped() {
        var sim = Sim(workers: 3)
        sim.running()
        let pids = sim.sup.sortedWorkers.map(\.pid)
        let a = sim.run(sim.sup.stop(graceful: true, now: sim.now))
        #expect(a.contains(.closeListeners))
        #expect(a.signalled(Signals.term).sorted() == pids.sorted())
        #expect(a.signalled(Signals.kill).isEmpty && a.signalled(Signals.int).isEmpty)
        #expect(a.exits.isEmpty)
        let close = a.firstIndex(of: .closeListeners) ?? Int.max
        let firstTerm = a.firstIndex(of: .signal(pid: pids[0], signal: Signals.term)) ?? -1
        #expect(close < firstTerm, "the listeners are closed before the workers are told to stop")
        #expect(sim.advance(sec).isEmpty)
        #expect(sim.exit(pids[0], clean).isEmpty)
        // a worker dying badly during the stop is not replaced
        #expect(sim.exit(pids[1], abrtCore).spawns.isEmpty)
        let b = sim.exit(pids[2], clean)
        #expect(b == [Action.exit(code: 0)])
    }

    @Test func gracefulStopCancelsPendingRespawns() {
        var sim = Sim(workers: 2)
        sim.running()
        sim.advance(100 * msec)
        sim.exit(sim.pid(0), abrtCore)           // boot crash 1: respawned at once
        sim.bootAll()
        sim.advance(100 * msec)
        let a = sim.exit(sim.pid(0), abrtCore)   // boot crash 2: respawn due in 0.1 s
        #expect(a.spawns.isEmpty)
        let stop = sim.run(sim.sup.stop(graceful: true, now: sim.now))
        #expect(stop.spawns.isEmpty)
        for _ in 0..<20 { #expect(sim.advance(100 * msec).spawns.isEmpty) }
        let last = sim.sup.sortedWorkers.map(\.pid)
        #expect(last.count == 1)
        #expect(sim.exit(last[0], clean) == [Action.exit(code: 0)])
    }

    @Test func gracefulTimeoutKillsWhatIsLeft() {
        var sim = Sim(workers: 2, graceful: 5)
        sim.running()
        let pids = sim.sup.sortedWorkers.map(\.pid)
        sim.run(sim.sup.stop(graceful: true, now: sim.now))
        sim.exit(pids[0], clean)
        #expect(sim.advance(4900 * msec).signals.isEmpty)
        let a = sim.advance(100 * msec)
        #expect(a.signalled(Signals.kill) == [pids[1]])
        #expect(a.text.contains("graceful_timeout"))
        #expect(sim.advance(sec).signals.isEmpty, "KILL is sent once")
        #expect(sim.exit(pids[1], killed) == [Action.exit(code: 0)])
    }

    @Test func secondStopIsFast() {
        var sim = Sim(workers: 2, graceful: 30)
        sim.running()
        let pids = sim.sup.sortedWorkers.map(\.pid)
        sim.run(sim.sup.stop(graceful: true, now: sim.now))
        sim.advance(sec)
        let a = sim.run(sim.sup.stop(graceful: true, now: sim.now))
        #expect(a.signalled(Signals.int).sorted() == pids.sorted())
        #expect(a.text.contains("fast"))
        // the KILL comes 2 s later, not at the end of graceful_timeout
        #expect(sim.advance(1900 * msec).signals.isEmpty)
        #expect(sim.advance(100 * msec).signalled(Signals.kill).sorted() == pids.sorted())
        // a third one changes nothing
        #expect(sim.run(sim.sup.stop(graceful: false, now: sim.now)).isEmpty)
    }

    @Test func fastStop() {
        var sim = Sim(workers: 2, graceful: 30)
        sim.running()
        let pids = sim.sup.sortedWorkers.map(\.pid)
        let a = sim.run(sim.sup.stop(graceful: false, now: sim.now))
        #expect(a.contains(.closeListeners))
        #expect(a.signalled(Signals.int).sorted() == pids.sorted())
        #expect(a.signalled(Signals.term).isEmpty)
        #expect(sim.advance(1900 * msec).signals.isEmpty)
        #expect(sim.advance(100 * msec).signalled(Signals.kill).sorted() == pids.sorted())
        sim.exit(pids[0], killed)
        #expect(sim.exit(pids[1], killed) == [Action.exit(code: 0)])
    }

    @Test func stopDuringStartUp() {
        var sim = Sim(workers: 2)
        sim.start()
        let pids = sim.sup.sortedWorkers.map(\.pid)
        let a = sim.run(sim.sup.stop(graceful: true, now: sim.now))
        #expect(a.signalled(Signals.term).sorted() == pids.sorted())
        sim.exit(pids[0], clean)
        // exiting during the stop is no boot failure
        let b = sim.exit(pids[1], ExitStatus(code: 0))
        #expect(b.halt == nil)
        #expect(b.exits == [0])
    }
}

// MARK: scaling

@Suite struct Scaling {
    @Test func ttinAddsAWorkerInTheNextSlot() {
        var sim = Sim(workers: 2)
        sim.running()
        let a = sim.run(sim.sup.scale(by: 1, now: sim.now))
        #expect(a.spawns == [2])
        #expect(sim.sup.settings.workers == 3)
        #expect(sim.sup.liveCount == 3)
        let b = sim.bootAll()
        #expect(!b.contains(.ready))
    }

    @Test func ttouRetiresTheHighestSlotAndNeverGoesBelowOne() {
        var sim = Sim(workers: 3)
        sim.running()
        let top = sim.pid(2)
        let a = sim.run(sim.sup.scale(by: -1, now: sim.now))
        #expect(a.signalled(Signals.term) == [top])
        #expect(a.spawns.isEmpty)
        #expect(sim.sup.settings.workers == 2)
        #expect(sim.sup.liveCount == 2)
        let b = sim.exit(top, clean)
        #expect(b.spawns.isEmpty, "a retired slot is not refilled")
        let mid = sim.pid(1)
        #expect(sim.run(sim.sup.scale(by: -1, now: sim.now)).signalled(Signals.term) == [mid])
        sim.exit(mid, clean)
        #expect(sim.sup.settings.workers == 1)
        let c = sim.run(sim.sup.scale(by: -1, now: sim.now))
        #expect(c.signals.isEmpty)
        #expect(sim.sup.settings.workers == 1)
        #expect(sim.sup.liveCount == 1)
        #expect(sim.sup.live(slot: 0) != nil)
    }

    @Test func ttouCancelsAPendingRespawnOfTheRetiredSlot() {
        var sim = Sim(workers: 2)
        sim.running()
        sim.advance(100 * msec)
        sim.exit(sim.pid(1), abrtCore)
        sim.bootAll()
        sim.advance(100 * msec)
        sim.exit(sim.pid(1), abrtCore)           // slot 1 waits 0.1 s
        sim.run(sim.sup.scale(by: -1, now: sim.now))
        for _ in 0..<20 { #expect(sim.advance(100 * msec).spawns.isEmpty) }
        #expect(sim.sup.liveCount == 1)
    }

    @Test func ttinAfterTtouRefillsTheSlot() {
        var sim = Sim(workers: 2)
        sim.running()
        let old = sim.pid(1)
        sim.run(sim.sup.scale(by: -1, now: sim.now))
        let a = sim.run(sim.sup.scale(by: 1, now: sim.now))
        #expect(a.spawns == [1])
        // the retired worker leaving afterwards does not cause another spawn
        #expect(sim.exit(old, clean).spawns.isEmpty)
        #expect(sim.sup.liveCount == 2)
    }

    @Test func scalingIsIgnoredUntilRunning() {
        var sim = Sim(workers: 2)
        sim.start()
        #expect(sim.run(sim.sup.scale(by: 1, now: sim.now)).spawns.isEmpty)
        #expect(sim.sup.settings.workers == 2)
    }
}

// MARK: the health message, memory, exit statuses

@Suite struct Wire {
    @Test func healthMessageRoundTrip() {
        var m = HealthMessage(kind: .heartbeat)
        m.exitReason = .memoryLimit
        m.abiVersion = 1
        m.pid = 4_000_123
        m.requests = 123_456_789_012
        m.bytesIn = UInt64.max - 1
        m.bytesOut = 1 << 40
        m.ussKB = 0x0102_0304_0506_0708
        m.pssKB = 0xFFEE_DDCC_BBAA_9988
        m.text = "testapp 1.0"
        let b = m.encode()
        #expect(b.count == HealthMessage.size)
        #expect(HealthMessage.decode(b) == m)
    }

    @Test(arguments: [HealthMessage.Kind.booted, .bootFailed, .heartbeat, .exiting])
    func everyKindRoundTrips(kind: HealthMessage.Kind) {
        var m = HealthMessage(kind: kind)
        m.pid = 42
        m.pssKB = 1 << 50      // every byte of every field counts
        m.ussKB = 1 << 49
        m.text = String(repeating: "x", count: 200)
        m.exitReason = .shutdown
        #expect(HealthMessage.decode(m.encode()) == m)
    }

    @Test func negativePidSurvives() {
        var m = HealthMessage(kind: .exiting)
        m.pid = -1
        #expect(HealthMessage.decode(m.encode())?.pid == -1)
    }

    @Test func longTextIsTruncatedOnACharacterBoundary() {
        var m = HealthMessage(kind: .bootFailed)
        m.text = "a" + String(repeating: "é", count: 150)   // 301 bytes
        let d = HealthMessage.decode(m.encode())
        #expect(d?.text == "a" + String(repeating: "é", count: 99))
        m.text = String(repeating: "y", count: 500)
        #expect(HealthMessage.decode(m.encode())?.text == String(repeating: "y", count: 200))
    }

    @Test func malformedMessagesAreRejected() {
        let good = HealthMessage(kind: .booted).encode()
        #expect(HealthMessage.decode(Array(good.dropLast())) == nil)
        #expect(HealthMessage.decode(good + [0]) == nil)
        #expect(HealthMessage.decode([]) == nil)
        var bad = good
        bad[0] = 99
        #expect(HealthMessage.decode(bad) == nil)
        bad[0] = 0
        #expect(HealthMessage.decode(bad) == nil)
    }

    static let smapsRollup = """
        55a33b1e1000-7ffefe5d5000 ---p 00000000 00:00 0                          [rollup]
        Rss:               48312 kB
        Pss:               21070 kB
        Pss_Dirty:         18244 kB
        Pss_Anon:          18100 kB
        Pss_File:           2970 kB
        Pss_Shmem:             0 kB
        Shared_Clean:      27340 kB
        Shared_Dirty:        204 kB
        Private_Clean:       524 kB
        Private_Dirty:     20244 kB
        Referenced:        48312 kB
        Anonymous:         20348 kB
        KSM:                   0 kB
        LazyFree:              0 kB
        AnonHugePages:      2048 kB
        ShmemPmdMapped:        0 kB
        FilePmdMapped:         0 kB
        Shared_Hugetlb:        0 kB
        Private_Hugetlb:       0 kB
        Swap:                  0 kB
        SwapPss:               0 kB
        Locked:                0 kB

        """

    @Test func memoryUsageParsesSmapsRollup() {
        let m = MemoryUsage.parse(Self.smapsRollup)
        #expect(m.rssKB == 48312)
        #expect(m.pssKB == 21070)      // not Pss_Dirty, Pss_Anon, ...
        #expect(m.ussKB == 524 + 20244)
    }

    @Test func memoryUsageOfNothing() {
        #expect(MemoryUsage.parse("") == MemoryUsage())
        #expect(MemoryUsage.parse("garbage\nRss: lots kB\n") == MemoryUsage())
    }

    @Test func memoryUsageOfThisProcess() throws {
        let m = try #require(MemoryUsage.read())
        #expect(m.rssKB > 0)
        #expect(m.ussKB > 0 && m.ussKB <= m.rssKB)
        #expect(m.pssKB >= m.ussKB && m.pssKB <= m.rssKB)
        #expect(MemoryUsage.read(pid: Int32.max) == nil)
    }

    @Test func exitStatusFromWaitStatus() {
        // exit(3): status 0x0300
        let three = ExitStatus(waitStatus: 3 << 8)
        #expect(three == ExitStatus(code: 3))
        #expect(three.description == "exited with code 3")
        #expect(!three.isClean)
        let zero = ExitStatus(waitStatus: 0)
        #expect(zero.isClean && zero.description == "exited with code 0")
        // abort() with a core dump: the signal plus 0x80
        let abrt = ExitStatus(waitStatus: Signals.abrt | 0x80)
        #expect(abrt == ExitStatus(code: nil, signal: Signals.abrt, coreDumped: true))
        #expect(abrt.description == "was killed by SIGABRT (core dumped)")
        #expect(!abrt.isClean)
        let kill = ExitStatus(waitStatus: Signals.kill)
        #expect(kill.description == "was killed by SIGKILL")
        #expect(kill.code == nil && !kill.coreDumped)
        #expect(ExitStatus(waitStatus: Signals.segv).description == "was killed by SIGSEGV")
        #expect(ExitStatus(code: nil, signal: 63).description == "was killed by signal 63")
    }
}

// MARK: the slot's record: why a worker was asked to leave, its last exit

@Suite struct SlotRecords {
    @Test func eachWayOfAskingAWorkerToLeaveIsInItsStateAndItsExitIsExpected() {
        var sim = Sim(workers: 3, timeout: 2) { $0.memoryHardKB = 100 * 1024 }
        sim.running()
        let (timedOut, fat, silent) = (sim.pid(0), sim.pid(1), sim.pid(2))
        sim.advance(3 * sec, busy: [timedOut: Supervisor.Busy(since: sim.now, request: "GET /sleep")])
        #expect(sim.sup.workers[timedOut]?.leave == .timeout)
        sim.run(sim.sup.heartbeat(pid: fat, requests: 1, ussKB: 200 * 1024, pssKB: 0, now: sim.now))
        #expect(sim.sup.workers[fat]?.state == .leaving(.memory, killAt: nil))
        sim.advance(11 * sec, silent: [silent])
        #expect(sim.sup.workers[silent]?.state == .leaving(.silence, killAt: nil))
        for (pid, status) in [(timedOut, clean), (fat, killed), (silent, killed)] {
            let a = sim.exit(pid, status)
            #expect(a.errors.isEmpty && a.spawns.isEmpty, "expected: no crash log, replaced already")
        }
        #expect((0..<3).allSatisfy { (sim.sup.slots[$0]?.bootCrashes ?? 0) == 0 })
    }

    @Test func scaleDownAndReloadAreTheReasonsOfTheirRetiredWorkers() {
        var sim = Sim(workers: 2, graceful: 30)
        sim.running()
        let top = sim.pid(1)
        sim.run(sim.sup.scale(by: -1, now: sim.now))
        #expect(sim.sup.workers[top]?.state == .leaving(.scaleDown, killAt: sim.now + 30 * sec))
        let old = sim.pid(0)
        sim.run(sim.sup.beginReload(settings: sim.sup.settings, rolling: false, now: sim.now))
        sim.bootAll()
        #expect(sim.sup.generation == 2)
        #expect(sim.sup.workers[old]?.leave == .reload)
        let a = sim.exit(old, clean)
        #expect(a.errors.isEmpty && a.spawns.isEmpty)
        // past graceful_timeout: killed, still for its reason
        let b = sim.advance(31 * sec)
        #expect(b.signalled(Signals.kill) == [top])
        #expect(sim.sup.workers[top]?.state == .leaving(.scaleDown, killAt: nil))
    }

    @Test func aBootTimeoutKillIsNotAskingToLeave() {
        var sim = Sim(workers: 1, bootTimeout: 5)
        sim.running()
        sim.now += 60 * sec
        sim.exit(sim.pid(0), abrtCore)
        let stuck = sim.pid(0)
        sim.advance(5 * sec + 100 * msec)
        #expect(sim.sup.workers[stuck]?.state == .killed)
        #expect(sim.sup.workers[stuck]?.leave == nil)
    }

    @Test func theSlotKeepsItsLastExitAcrossReloadsAndScaling() {
        var sim = Sim(workers: 2, timeout: 2)
        sim.running()
        let pid = sim.pid(0)
        sim.advance(3 * sec, busy: [pid: Supervisor.Busy(since: sim.now, request: "GET /sleep")])
        sim.exit(pid, clean)
        #expect(sim.sup.slots[0]?.lastExit == .init(status: clean, leave: .timeout))
        #expect(sim.sup.slots[0]?.lastExit?.description == "timed out: stopped by the master")
        sim.bootAll()
        sim.exit(sim.pid(1), abrtCore)
        #expect(sim.sup.slots[1]?.lastExit?.description == "was killed by SIGABRT (core dumped)")
        sim.bootAll()
        sim.run(sim.sup.beginReload(settings: sim.sup.settings, rolling: false, now: sim.now))
        sim.bootAll()
        #expect(sim.sup.generation == 2)
        #expect(sim.sup.slots[0]?.lastExit?.leave == .timeout, "a new generation keeps the slots' last exits")
        #expect(sim.sup.slots[0]?.respawn == Supervisor.Slot.Respawn.none)
        sim.run(sim.sup.scale(by: -1, now: sim.now))
        #expect(sim.sup.slots[1]?.lastExit?.leave == nil)
        #expect(sim.sup.slots[1]?.lastExit?.status == abrtCore, "scaling down forgets the respawn, not the last exit")
    }
}
