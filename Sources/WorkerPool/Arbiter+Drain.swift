import CSupport
import ServerCore

/// The drain before a graceful stop (drain_delay, Drain.swift): readiness
/// off, workers told through their scoreboard slots to close keep-alive
/// connections, and the graceful stop when the delay is over.
extension Arbiter {
    /// SIGTERM or POST /stop: drain first when drain_delay asks for it.
    func stopGracefully(_ why: String) {
        let now = Self.now
        // After SIGUSR2 the listeners are the new master's: its workers keep
        // serving them, there is nothing to drain away from.
        if !pool.handedOff, supervisor.phase == .running, drain.begin(now: now) {
            logger.info("\(why): draining for \(config.drainDelay)s (/readyz answers 503, keep-alive connections close), then the graceful shutdown")
            SystemdNotifier.notify("STOPPING=1\nSTATUS=draining for \(config.drainDelay)s")
            for r in records.values { scoreboard[r.score].draining = 1 }
            return
        }
        if drain.isDraining && !drain.isDue(now: now) { logger.info("\(why) during the drain: stopping now") }
        logger.info("\(why): graceful shutdown")
        stop(graceful: true)
    }

    /// Each loop pass: the graceful stop once the drain is over.
    func finishDrain() {
        guard drain.isDue(now: Self.now), case .running = supervisor.phase else { return }
        drain.end()
        logger.info("drain_delay over: graceful shutdown")
        stop(graceful: true)
    }
}
