/// Workers that follow demand: the DemandScaler decides, these execute the
/// decision on the serving generation. Only while running and not reloading
/// (a reload's new generation starts at its own `workers`).
extension Supervisor {
    public var canFollowDemand: Bool {
        guard case .running = phase else { return false }
        return reload == nil
    }

    /// One more worker, in the next slot.
    public mutating func grow(reason: String, now: UInt64) -> [Action] {
        guard canFollowDemand else { return [] }
        return resize(to: settings.workers + 1, now: now,
                      message: "demand: adding a worker (\(settings.workers) to \(settings.workers + 1)): \(reason)")
    }

    /// The top slot's worker retires gracefully.
    public mutating func shrink(reason: String, now: UInt64) -> [Action] {
        guard canFollowDemand, settings.workers > 1 else { return [] }
        return resize(to: settings.workers - 1, now: now,
                      message: "demand: retiring a worker (\(settings.workers) to \(settings.workers - 1)): \(reason)")
    }
}
