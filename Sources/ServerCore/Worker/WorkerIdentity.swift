/// Who a worker is, for the environ and logs.
public struct WorkerIdentity: Sendable {
    public var id: Int
    public var generation: UInt32
    public var pid: Int32

    public init(id: Int, generation: UInt32, pid: Int32) {
        self.id = id
        self.generation = generation
        self.pid = pid
    }
}
