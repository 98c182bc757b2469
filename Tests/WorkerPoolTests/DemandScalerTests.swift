import Testing
@testable import WorkerPool

// Workers that follow demand: the scaler's decisions with a fake clock, and
// the Supervisor executing them (Sim).

fileprivate typealias W = DemandScaler.Worker

fileprivate func busy(_ n: Int, at t: UInt64 = 0) -> [W] { (0..<n).map { W(slot: $0, busy: true, idleSince: t) } }

@Suite struct DemandScalerRules {
    static func scaler() -> DemandScaler { DemandScaler(settings: .init(base: 1, max: 4, idleTimeoutSeconds: 3)) }
    let t0: UInt64 = 1_000 * sec

    @Test func growsWhenAllBusyAndConnectionsQueue() {
        var scaler = Self.scaler()
        let d = scaler.decide(.init(target: 1, workers: busy(1), queued: 3), now: t0)
        #expect(d == .grow(reason: "all 1 workers busy, 3 connections queued"))
    }

    @Test func holdsWhenOneWorkerIsIdleOrNothingWaits() {
        var scaler = Self.scaler()
        var ws = busy(2)
        ws[1].busy = false
        do {
            let d = scaler.decide(.init(target: 2, workers: ws, queued: 5), now: t0)
            #expect(d == .hold)
        }
        do {
            let d = scaler.decide(.init(target: 2, workers: busy(2), queued: 0), now: t0 + 100 * msec)
            #expect(d == .hold)
        }
    }

    @Test func growsAtMostOncePerInterval() {
        var scaler = Self.scaler()
        var grows: [UInt64] = []
        var target = 1
        var t = t0
        while t < t0 + sec {
            if case .grow = scaler.decide(.init(target: target, workers: busy(target), queued: 10), now: t) {
                grows.append(t - t0)
                target += 1
            }
            t += 100 * msec
        }
        #expect(grows == [0, 300 * msec, 600 * msec], "\(grows)")
        #expect(target == 4, "never above max_workers")
    }

    @Test func workersBootingCountAgainstTheQueue() {
        var scaler = Self.scaler()
        var ws = busy(1)
        ws.append(W(slot: 1, booting: true, busy: false, idleSince: t0))
        do {
            let d = scaler.decide(.init(target: 2, workers: ws, queued: 1), now: t0)
            #expect(d == .hold, "the booting worker takes it")
        }
        do {
            let d = scaler.decide(.init(target: 2, workers: ws, queued: 2), now: t0 + 10 * msec)
            #expect(d != .hold)
        }
    }

    @Test func growsWhenSaturatedWithoutAQueue() {
        var scaler = Self.scaler()
        // behind a proxy that keeps connections alive, requests wait in the workers' sockets
        do {
            let d = scaler.decide(.init(target: 2, workers: busy(2), queued: 0), now: t0)
            #expect(d == .hold)
        }
        do {
            let d = scaler.decide(.init(target: 2, workers: busy(2), queued: 0), now: t0 + 500 * msec)
            #expect(d == .hold)
        }
        do {
            let d = scaler.decide(.init(target: 2, workers: busy(2), queued: 0), now: t0 + sec)
            #expect(d == .grow(reason: "all 2 workers busy for 1.0s"))
        }
    }

    @Test func shrinksTheTopSlotAfterIdleTimeoutOneAtATime() {
        var scaler = Self.scaler()
        var ws = (0..<3).map { W(slot: $0, busy: false, idleSince: t0) }
        ws[0].busy = true
        do {
            let d = scaler.decide(.init(target: 3, workers: ws, queued: 0), now: t0 + 2 * sec)
            #expect(d == .hold, "idle 2 s < 3 s")
        }
        do {
            let d = scaler.decide(.init(target: 3, workers: ws, queued: 0), now: t0 + 3 * sec)
            #expect(d == .shrink(reason: "worker in slot 2 idle for 3.0s"))
        }
        ws.removeLast()
        do {
            let d = scaler.decide(.init(target: 2, workers: ws, queued: 0), now: t0 + 3 * sec + 500 * msec)
            #expect(d == .hold, "one per second")
        }
        do {
            let d = scaler.decide(.init(target: 2, workers: ws, queued: 0), now: t0 + 4 * sec)
            #expect(d == .shrink(reason: "worker in slot 1 idle for 4.0s"))
        }
        ws.removeLast()
        do {
            let d = scaler.decide(.init(target: 1, workers: ws, queued: 0), now: t0 + 20 * sec)
            #expect(d == .hold, "never below workers")
        }
    }

    @Test func keepsABusyTopSlotAndWhatItJustAdded() {
        var scaler = Self.scaler()
        var ws = (0..<2).map { W(slot: $0, busy: false, idleSince: t0) }
        ws[1].busy = true
        do {
            let d = scaler.decide(.init(target: 2, workers: ws, queued: 0), now: t0 + 10 * sec)
            #expect(d == .hold, "the top slot is busy")
        }
        // hysteresis: a grow keeps the pool for idle_worker_timeout, even if the new worker idled at once
        var s = DemandScaler(settings: .init(base: 1, max: 4, idleTimeoutSeconds: 3))
        do {
            let d = s.decide(.init(target: 1, workers: busy(1), queued: 2), now: t0)
            #expect(d != .hold)
        }
        let idle = [W(slot: 0, busy: false, idleSince: t0 - 10 * sec), W(slot: 1, busy: false, idleSince: t0 - 10 * sec)]
        do {
            let d = s.decide(.init(target: 2, workers: idle, queued: 0), now: t0 + 2 * sec)
            #expect(d == .hold)
        }
        do {
            let d = s.decide(.init(target: 2, workers: idle, queued: 0), now: t0 + 3 * sec)
            #expect(d != .hold)
        }
    }

    @Test func aBurstThatComesBackDoesNotFlap() {
        var scaler = Self.scaler()
        // busy 1 s, idle 2 s, over and over: idle_worker_timeout 3 s never passes
        var target = 1
        var decisions: [String] = []
        var ws = busy(1)
        var lastBusy = t0
        for step in 0..<300 {
            let t = t0 + UInt64(step) * 100 * msec
            let burst = (step / 10) % 3 == 0
            if burst { lastBusy = t }
            ws = (0..<target).map { W(slot: $0, busy: burst, idleSince: lastBusy) }
            switch scaler.decide(.init(target: target, workers: ws, queued: burst ? 5 : 0), now: t) {
            case .grow: target += 1; decisions.append("+")
            case .shrink: target -= 1; decisions.append("-")
            case .hold: break
            }
        }
        #expect(decisions == ["+", "+", "+"], "\(decisions)")
    }
}

@Suite struct ScaleVerbRules {
    @Test func aHigherFloorGrowsAtOnceALowerOneRetiresAtOnce() {
        var s = DemandScaler(settings: .init(base: 2, max: 6, idleTimeoutSeconds: 3))
        var target = s.setBase(3, maxWorkers: 6, current: 2)
        #expect(target == 3 && s.settings.base == 3)
        target = s.setBase(4, maxWorkers: 6, current: 5)
        #expect(target == 5, "demand's extra worker stays until idle")
        target = s.setBase(2, maxWorkers: 6, current: 5)
        #expect(target == 2, "an explicit lower floor applies at once")
        target = s.setBase(0, maxWorkers: 6, current: 2)
        #expect(target == 1 && s.settings.base == 1, "never below one")
        target = s.setBase(9, maxWorkers: 6, current: 2)
        #expect(target == 9 && s.settings.max == 9, "a floor above max_workers raises the ceiling")
    }
}

@Suite struct DemandSupervisorRules {
    @Test func growAddsTheNextSlotAndShrinkRetiresTheTop() {
        var sim = Sim(workers: 1)
        sim.running()
        var a = sim.run(sim.sup.grow(reason: "busy", now: sim.now))
        #expect(a.spawns == [1])
        #expect(a.messages.first == "demand: adding a worker (1 to 2): busy")
        sim.bootAll()
        a = sim.run(sim.sup.shrink(reason: "idle", now: sim.now))
        #expect(a.signalled(Signals.term) == [sim.sup.workers.values.first { $0.slot == 1 }!.pid])
        #expect(sim.sup.settings.workers == 1)
        #expect(sim.sup.workers.values.first { $0.slot == 1 }!.isLeaving)
    }

    @Test func demandHoldsDuringAReloadAndAStop() {
        var sim = Sim(workers: 1)
        sim.running()
        sim.run(sim.sup.beginReload(settings: sim.sup.settings, rolling: false, now: sim.now))
        #expect(sim.sup.grow(reason: "x", now: sim.now).isEmpty)
        var other = Sim(workers: 2)
        other.running()
        other.run(other.sup.stop(graceful: true, now: other.now))
        #expect(other.sup.shrink(reason: "x", now: other.now).isEmpty)
    }
}

@Suite struct DrainRules {
    @Test func drainRunsOnceAndIsDueAfterTheDelay() {
        var d = Drain(seconds: 2)
        #expect(!d.isDraining)
        let began = d.begin(now: 10 * sec)
        #expect(began)
        #expect(d.isDraining && !d.isDue(now: 11 * sec) && d.isDue(now: 12 * sec))
        let again = d.begin(now: 11 * sec)
        #expect(!again, "a second SIGTERM stops at once")
        d.end()
        #expect(d.isDraining && !d.isDue(now: 100 * sec))
    }

    @Test func noDelayNoDrain() {
        var d = Drain(seconds: 0)
        let began = d.begin(now: sec)
        #expect(!began)
        #expect(!d.isDraining)
    }
}

// threads = 4: a worker is busy when its four app threads are; what the
// pool waits for counts threads.
@Suite struct DemandWithThreads {
    static func scaler() -> DemandScaler { DemandScaler(settings: .init(base: 1, max: 4, idleTimeoutSeconds: 3)) }
    let t0: UInt64 = 1_000 * sec

    func workers(_ busyThreads: [Int], at t: UInt64 = 0) -> [DemandScaler.Worker] {
        busyThreads.enumerated().map { DemandScaler.Worker(slot: $0.offset, threads: 4, busyThreads: $0.element, idleSince: t) }
    }

    @Test func aWorkerWithAFreeThreadIsNotBusy() {
        var scaler = Self.scaler()
        let d = scaler.decide(.init(target: 2, workers: workers([4, 3]), queued: 5), now: t0)
        #expect(d == .hold, "one app thread is free: it takes the next connection")
        #expect(!workers([3])[0].busy && workers([4])[0].busy)
    }

    @Test func growsWhenEveryThreadIsBusyAndConnectionsQueue() {
        var scaler = Self.scaler()
        let d = scaler.decide(.init(target: 2, workers: workers([4, 4]), queued: 3), now: t0)
        #expect(d == .grow(reason: "all 2 workers busy (8 app threads), 3 connections queued"))
    }

    @Test func growsWhenRequestsWaitForAThread() {
        var scaler = Self.scaler()
        let d = scaler.decide(.init(target: 1, workers: workers([4]), queued: 0, waiting: 2), now: t0)
        #expect(d == .grow(reason: "all 1 workers busy (4 app threads), 2 requests waiting for a thread"))
    }

    @Test func growsWhenEveryThreadStaysBusy() {
        var scaler = Self.scaler()
        #expect(scaler.decide(.init(target: 2, workers: workers([4, 4]), queued: 0), now: t0) == .hold)
        #expect(scaler.decide(.init(target: 2, workers: workers([4, 3]), queued: 0), now: t0 + 600 * msec) == .hold,
                "a free thread breaks the saturation")
        #expect(scaler.decide(.init(target: 2, workers: workers([4, 4]), queued: 0), now: t0 + 700 * msec) == .hold)
        #expect(scaler.decide(.init(target: 2, workers: workers([4, 4]), queued: 0), now: t0 + 1700 * msec)
                == .grow(reason: "all 2 workers busy (8 app threads) for 1.0s"))
    }

    @Test func theTopWorkerShrinksOnlyWithAllItsThreadsIdle() {
        var scaler = Self.scaler()
        do {
            let d = scaler.decide(.init(target: 2, workers: workers([0, 1], at: t0), queued: 0), now: t0 + 10 * sec)
            #expect(d == .hold, "one thread of the top worker serves a request")
        }
        do {
            let d = scaler.decide(.init(target: 2, workers: workers([2, 0], at: t0), queued: 0), now: t0 + 10 * sec)
            #expect(d == .shrink(reason: "worker in slot 1 idle for 10.0s"))
        }
    }
}
