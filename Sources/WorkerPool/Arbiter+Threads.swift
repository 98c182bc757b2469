#if canImport(Glibc)
import Glibc
#endif
import CSupport
import ServerCore

/// A worker's app threads in the scoreboard (threads = N: N slots, the
/// first also holding the worker-wide fields): what the master reads per
/// worker sums or scans its slots, and the actions on one thread's request.
extension Arbiter {
    /// Fresh slots for a worker about to be forked: each knows its thread
    /// index; the first the thread count and the drain in progress.
    func prepareSlots(_ scores: [Int]) {
        for (index, i) in scores.enumerated() {
            scoreboard[i] = gw_score_slot()
            scoreboard[i].thread_index = Int32(index)
        }
        scoreboard[scores[0]].threads = Int32(scores.count)
        if drain.isDraining { scoreboard[scores[0]].draining = 1 }
    }

    /// The slot of a worker's app thread `thread` (0 ..< threads).
    func threadSlot(_ pid: Int32, _ thread: Int) -> UnsafeMutablePointer<gw_score_slot>? {
        guard let r = records[pid], r.scores.indices.contains(thread) else { return nil }
        return scoreboard + r.scores[thread]
    }

    /// The worker's app threads serving a request now: thread index and slot index.
    func busySlots(_ r: WorkerRecord) -> [(thread: Int, score: Int)] {
        r.scores.enumerated().compactMap { thread, i in
            scoreboard[i].state == Int32(GW_SCORE_BUSY) ? (thread, i) : nil
        }
    }

    /// Its counters, summed over its slots.
    func counters(_ r: WorkerRecord) -> ScoreCounters {
        ScoreCounters(slots: r.scores.map { scoreboard[$0] })
    }

    /// Busy app threads of workers with several, for their timeouts.
    func busyThreads() -> [Int32: [ThreadTimeouts.Busy]] {
        var busy: [Int32: [ThreadTimeouts.Busy]] = [:]
        for (pid, r) in records where r.threads > 1 {
            let threads = busySlots(r).map { t, i in
                ThreadTimeouts.Busy(thread: t, serial: scoreboard[i].request_serial,
                                    since: scoreboard[i].busy_since_ns, request: requestText(scoreboard[i]))
            }
            if !threads.isEmpty { busy[pid] = threads }
        }
        return busy
    }

    /// A request of an app thread timed out (its client has its 504): the
    /// worker reads the serial in the thread's slot, then gets the signal;
    /// it interrupts the thread or retires (finishes its other requests).
    func interruptThread(_ pid: Int32, thread: Int, serial: UInt64) {
        guard let slot = threadSlot(pid, thread) else { return }
        slot.pointee.timeout_serial = serial
        Sys.kill(pid, gw_timeout_signal())
    }

    /// Busy app threads over all live workers, and all their threads.
    func threadCounts() -> (busy: Int, total: Int) {
        var busy = 0, total = 0
        for w in supervisor.workers.values where w.state == .ready {
            guard let r = records[w.pid] else { continue }
            busy += busySlots(r).count
            total += r.threads
        }
        return (busy, total)
    }

    /// Complete requests waiting for an app thread, over all workers.
    func queuedRequests() -> UInt64 {
        records.values.reduce(0) { $0 + UInt64(scoreboard[$1.score].queued) }
    }
}
