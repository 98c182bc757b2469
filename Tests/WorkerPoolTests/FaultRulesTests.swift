import Testing
@testable import WorkerPool

// The rules of docs/architecture.md, "Crashes, backoff and reload
// abandonment": one test per row of that table, named as in its last column.

fileprivate let abrt = ExitStatus(code: nil, signal: Signals.abrt, coreDumped: true)
fileprivate let sigkill = ExitStatus(code: nil, signal: Signals.kill)
fileprivate let ok = ExitStatus(code: 0)

@Suite struct CrashRules {
    @Test func requestCrashIsReplacedAtOnceLoggedAndCounted() {
        var sim = Sim(workers: 2)
        sim.running()
        sim.advance(100 * msec)                  // well inside the crash window
        let pid = sim.pid(0)
        let a = sim.exit(pid, abrt, request: "GET /crash")
        #expect(a.spawns == [0], "respawned at once")
        #expect(a.errors.count == 1)
        let line = a.errors.first ?? ""
        #expect(line.contains("\(pid)") && line.contains("SIGABRT") && line.contains("GET /crash"))
        #expect(line.contains("request crash"))
        #expect(!a.text.contains("right after boot"))
        #expect(!a.text.contains("next spawn in"))
        #expect(sim.sup.requestCrashes == 1)
        #expect((sim.sup.slots[0]?.bootCrashes ?? 0) == 0)
    }

    @Test func aFloodOfRequestCrashesNeverBacksOff() {
        var sim = Sim(workers: 2)
        sim.running()
        for i in 0..<50 {
            sim.bootAll()
            sim.advance(20 * msec)
            let a = sim.exit(sim.pid(i % 2), abrt, request: "GET /crash")
            #expect(a.spawns == [i % 2], "crash \(i + 1)")
            #expect(!a.text.contains("next spawn in"), "crash \(i + 1)")
        }
        #expect(sim.sup.requestCrashes == 50)
        #expect(!sim.sup.slots.values.contains { $0.respawn.waits(after: sim.now) }, "no backoff")
    }

    @Test func aFloodOfRequestCrashesIsLoggedOncePerSecond() {
        var sim = Sim(workers: 2)
        sim.running()
        var lines: [String] = []
        for i in 0..<40 {
            sim.advance(20 * msec)             // 40 crashes in 0.8 s
            lines += sim.exit(sim.pid(i % 2), abrt, request: "GET /crash").messages
            lines += sim.bootAll().messages
        }
        #expect(lines.filter { $0.contains("request crash") }.count == 1, "\(lines)")
        #expect(lines.filter { $0.contains("booted") }.count == 1, "only the first replacement's boot is logged")
        let summary = sim.advance(300 * msec).messages
        #expect(summary == ["39 more request crashes in the last second, each respawned at once; the last: worker 1039 (slot 1) was killed by SIGABRT (core dumped) while serving GET /crash"])
        #expect(sim.sup.requestCrashes == 40)
        // a crash after the window is logged in full again
        sim.advance(sec)
        #expect(sim.exit(sim.pid(0), abrt, request: "GET /x").errors.first?.contains("request crash (41 since start)") == true)
    }

    @Test func requestCrashResetsABootCrashBackoff() {
        var sim = Sim(workers: 1)
        sim.running()
        for _ in 0..<3 {
            sim.bootAll()
            sim.advance(100 * msec)
            sim.exit(sim.pid(0), abrt)
            for _ in 0..<10 { sim.advance(100 * msec) }
        }
        #expect(sim.sup.slots[0]?.bootCrashes == 3)
        sim.bootAll()
        sim.advance(100 * msec)
        let a = sim.exit(sim.pid(0), abrt, request: "GET /crash")
        #expect(a.spawns == [0])
        #expect((sim.sup.slots[0]?.bootCrashes ?? 0) == 0, "the app booted and served: its boot is fine")
    }

    @Test func idleCrashInsideTheCrashWindowIsABootCrash() {
        var sim = Sim(workers: 2)
        sim.running()
        sim.advance(100 * msec)
        sim.exit(sim.pid(0), abrt)
        sim.bootAll()
        sim.advance(100 * msec)
        let a = sim.exit(sim.pid(0), abrt)
        #expect(a.text.contains("crashed 2 times in a row right after boot: next spawn in 0.100s"))
        #expect(a.spawns.isEmpty)
        #expect(sim.sup.requestCrashes == 0)
        #expect(sim.advance(100 * msec).spawns == [0])
    }

    @Test func idleCrashAfterTheCrashWindowIsReplacedAtOnce() {
        var sim = Sim(workers: 2)
        sim.running()
        sim.now += 6 * sec
        let a = sim.exit(sim.pid(1), ExitStatus(code: nil, signal: Signals.segv))
        #expect(a.spawns == [1])
        #expect(!a.text.contains("next spawn in"))
        #expect((sim.sup.slots[1]?.bootCrashes ?? 0) == 0)
    }

    @Test func spawnFailureRetriesWithBackoffAndSaysSo() {
        var sim = Sim(workers: 2)
        sim.running()
        sim.now += 60 * sec
        sim.failSpawns = [0, 0]                  // the respawn fails, and its first retry
        let a = sim.exit(sim.pid(0), sigkill)
        #expect(a.errors.contains { $0.contains("cannot spawn worker 0") && $0.contains("socketpair") })
        #expect(!a.text.contains("crashed"))
        #expect(a.spawns == [0, 0], "the respawn, then the first retry at once")
        #expect(a.text.contains("spawn failed 2 times in a row: next try in 0.100s"))
        #expect(!a.text.contains("right after boot"))
        #expect(sim.sup.live(slot: 0) == nil)
        #expect(sim.advance(99 * msec).spawns.isEmpty)
        #expect(sim.advance(1 * msec).spawns == [0])
        // a worker that boots clears the count
        sim.bootAll()
        #expect((sim.sup.slots[0]?.spawnFailures ?? 0) == 0)
    }

    @Test func spawnForAGenerationThatIsGoneIsRefused() {
        var sim = Sim(workers: 1)
        sim.running()
        #expect(sim.sup.wantsSpawn(generation: 1))
        #expect(!sim.sup.wantsSpawn(generation: 2))
        sim.run(sim.sup.beginReload(settings: sim.sup.settings, rolling: false, now: sim.now))
        #expect(sim.sup.wantsSpawn(generation: 2))
    }
}

@Suite struct ReloadRules {
    fileprivate func reloading(workers: Int = 2, bootTimeout: Int = 5, rolling: Bool = false) -> Sim {
        var sim = Sim(workers: workers, bootTimeout: bootTimeout, graceful: 3)
        sim.running()
        sim.run(sim.sup.beginReload(settings: sim.sup.settings, rolling: rolling, now: sim.now))
        return sim
    }

    @Test func spawnFailureDuringAReloadAbandonsItAtOnce() {
        var sim = Sim(workers: 2, bootTimeout: 5, graceful: 3)
        sim.running()
        let old = sim.sup.sortedWorkers.map(\.pid)
        let booting = sim.nextPid                 // the new generation's slot 0 spawns,
        sim.failSpawns = [1]                      // its slot 1 cannot be spawned
        let a = sim.run(sim.sup.beginReload(settings: sim.sup.settings, rolling: false, now: sim.now))
        #expect(sim.sup.reload == nil)
        #expect(a.contains { if case .reloadAbandoned(2, let r) = $0 { return r.contains("socketpair") }; return false })
        #expect(a.errors.contains { $0.contains("abandoned") && $0.contains("cannot spawn worker 1") })
        #expect(a.signalled(Signals.kill) == [booting])
        #expect(!a.contains { if case .spawn(_, 1) = $0 { return true }; return false }, "the serving generation is untouched")
        #expect(sim.sup.generation == 1)
        #expect(sim.sup.sortedWorkers.filter { !$0.isLeaving }.map(\.pid) == old)
    }

    @Test func noProgressWithinBootTimeoutAbandonsTheReload() {
        var sim = Sim(workers: 2, bootTimeout: 5, graceful: 3)
        sim.running()
        // both spawns vanish (no worker to time out): the reload itself does
        sim.dropSpawns = [0, 1]
        sim.run(sim.sup.beginReload(settings: sim.sup.settings, rolling: false, now: sim.now))
        #expect(sim.advance(4900 * msec).errors.isEmpty)
        let a = sim.advance(200 * msec)
        #expect(sim.sup.reload == nil)
        #expect(a.errors.contains { $0.contains("abandoned") && $0.contains("boot_timeout") })
        // and scaling works again
        #expect(sim.run(sim.sup.scale(by: 1, now: sim.now)).spawns == [2])
    }

    @Test func rollingReloadProgressResetsTheBootTimeout() {
        var sim = reloading(workers: 2, bootTimeout: 5, rolling: true)
        sim.advance(4 * sec)
        sim.bootAll()                            // slot 0 switched, slot 1 spawned
        sim.advance(4 * sec)
        #expect(sim.sup.reload != nil, "8 s in, but each step took less than boot_timeout")
        sim.bootAll()
        #expect(sim.sup.generation == 2)
    }

    @Test func newWorkerCrashingBeforePromotionAbandonsTheReload() {
        var sim = reloading()
        let booting = sim.sup.sortedWorkers.filter { $0.generation == 2 }.map(\.pid)
        let a = sim.exit(booting[0], abrt)
        #expect(sim.sup.reload == nil)
        #expect(a.errors.contains { $0.contains("abandoned") && $0.contains("SIGABRT") })
        #expect(a.signalled(Signals.kill) == [booting[1]])
    }

    @Test func newWorkerFailingToBootAbandonsTheReload() {
        var sim = reloading()
        let booting = sim.sup.sortedWorkers.filter { $0.generation == 2 }.map(\.pid)
        let a = sim.run(sim.sup.bootFailed(pid: booting[0], reason: "init failed: no database", now: sim.now))
        #expect(sim.sup.reload == nil)
        #expect(a.errors.contains { $0.contains("abandoned") && $0.contains("no database") })
        #expect(a.halt == nil)
    }

    @Test func newWorkerSilentPastBootTimeoutAbandonsTheReload() {
        var sim = reloading(bootTimeout: 5)
        let a = sim.advance(5100 * msec)
        #expect(sim.sup.reload == nil)
        #expect(a.errors.contains { $0.contains("abandoned") && $0.contains("boot_timeout") })
        #expect(Set(a.signalled(Signals.kill)).count == 2)
    }

    @Test func scalingDuringAReloadIsIgnoredAndWorksAfterIt() {
        var sim = reloading()
        let a = sim.run(sim.sup.scale(by: 1, now: sim.now))
        #expect(a.spawns.isEmpty && a.text.contains("ignored while a reload is in progress"))
        sim.bootAll()
        #expect(sim.sup.generation == 2)
        #expect(sim.run(sim.sup.scale(by: 1, now: sim.now)).spawns == [2])
    }

    @Test func workersRetiredByAReloadAreKilledAfterGracefulTimeout() {
        var sim = reloading()
        let old = sim.sup.sortedWorkers.filter { $0.generation == 1 }.map(\.pid)
        let promoted = sim.bootAll()
        #expect(promoted.signalled(Signals.term).sorted() == old.sorted())
        // one old worker still busy on a long request (timeout 30 s not reached)
        let busy = [old[0]: Supervisor.Busy(since: sim.now, request: "GET /sleep")]
        sim.exit(old[1], ok)
        #expect(sim.advance(2900 * msec, busy: busy).signals.isEmpty)
        let a = sim.advance(200 * msec, busy: busy)
        #expect(a.signalled(Signals.kill) == [old[0]])
        #expect(a.text.contains("graceful_timeout (3s)"))
        #expect(sim.advance(sec, busy: busy).signals.isEmpty, "KILL is sent once")
        #expect(sim.exit(old[0], sigkill).spawns.isEmpty)
        #expect(sim.sup.workers.count == 2)
    }

    @Test func workersRetiredByTtouAreKilledAfterGracefulTimeout() {
        var sim = Sim(workers: 2, graceful: 3)
        sim.running()
        let top = sim.pid(1)
        sim.run(sim.sup.scale(by: -1, now: sim.now))
        #expect(sim.advance(2900 * msec, busy: [top: .init(since: sim.now, request: "GET /sleep")]).signals.isEmpty)
        #expect(sim.advance(200 * msec, busy: [top: .init(since: sim.now, request: "GET /sleep")]).signalled(Signals.kill) == [top])
    }
}

@Suite struct StopRules {
    @Test func fastStopKillsAfterTwoSecondsAndSaysSo() {
        var sim = Sim(workers: 1, graceful: 30)
        sim.running()
        sim.run(sim.sup.stop(graceful: false, now: sim.now))
        let a = sim.advance(2 * sec)
        #expect(a.signalled(Signals.kill).count == 1)
        #expect(a.text.contains("still running 2s after the fast stop: killed"))
        #expect(!a.text.contains("graceful_timeout"))
    }

    @Test func gracefulStopKillsAfterGracefulTimeoutAndSaysSo() {
        var sim = Sim(workers: 1, graceful: 4)
        sim.running()
        sim.run(sim.sup.stop(graceful: true, now: sim.now))
        let a = sim.advance(4 * sec)
        #expect(a.signalled(Signals.kill).count == 1)
        #expect(a.text.contains("still running after graceful_timeout (4s): killed"))
    }
}
