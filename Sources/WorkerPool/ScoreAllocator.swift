/// The scoreboard's free slots: a worker with `threads` app threads takes
/// that many (any of them, not necessarily adjacent) when it is spawned and
/// gives them all back when it is reaped. Pure bookkeeping over indices;
/// the Arbiter clears the slots themselves.
struct ScoreAllocator: Equatable {
    let capacity: Int
    /// Free indices; the lowest is taken first (popLast of a descending list).
    private(set) var free: [Int]

    init(capacity: Int) {
        self.capacity = capacity
        free = Array((0..<capacity).reversed())
    }

    var available: Int { free.count }

    /// `count` slots, or nil (nothing taken) when fewer are free.
    mutating func take(_ count: Int) -> [Int]? {
        guard count > 0, count <= free.count else { return nil }
        return (0..<count).map { _ in free.removeLast() }
    }

    /// Slots a worker held (or a spawn that failed took): free again.
    mutating func release(_ indices: [Int]) {
        free += indices
        // lowest first again: a long-lived pool does not drift to high slots
        free.sort(by: >)
    }
}
