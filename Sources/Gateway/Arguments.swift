/// What an app boots with: the config's app_args (name/value pairs, in file
/// order) and the worker it runs in.
///
///     init(arguments: Arguments) throws {
///         greeting = try arguments.require("greeting")
///         limit = try arguments.value("limit", as: Int.self) ?? 1_000_000
///     }
public struct Arguments: RandomAccessCollection, Sendable {
    public typealias Element = (name: String, value: String)

    /// The app_args in the order init received them: a table's sorted by
    /// name, an array's in order (gateway.h).
    public let pairs: [Element]
    /// The worker's slot, 0 ..< workers.
    public let workerID: Int
    /// The worker generation (bumps on reload).
    public let generation: UInt32

    public init(_ pairs: [(String, String)] = [], workerID: Int = 0, generation: UInt32 = 0) {
        self.pairs = pairs.map { (name: $0.0, value: $0.1) }
        self.workerID = workerID
        self.generation = generation
    }

    /// Reads a gateway_init's app_args and worker fields.
    init(_ boot: gateway_init) {
        let args = UnsafeBufferPointer(start: boot.args, count: boot.args == nil ? 0 : boot.arg_count)
        self.init(args.map { (String(cString: $0.name), String(cString: $0.value)) },
                  workerID: Int(boot.worker_id), generation: boot.generation)
    }

    public var startIndex: Int { pairs.startIndex }
    public var endIndex: Int { pairs.endIndex }
    public subscript(position: Int) -> Element { pairs[position] }

    /// The value of the last app_arg named `name` (a later line overrides
    /// an earlier one), or nil.
    public subscript(name: String) -> String? {
        pairs.last { $0.name == name }?.value
    }

    /// All values of app_args named `name`, in the order init received them.
    public func values(named name: String) -> [String] {
        pairs.filter { $0.name == name }.map(\.value)
    }

    /// The value of app_arg `name`; throws `GatewayError.missingArgument`
    /// (which fails the boot with a clear message) when there is none.
    public func require(_ name: String) throws -> String {
        guard let value = self[name] else { throw GatewayError.missingArgument(name) }
        return value
    }

    /// App_arg `name` parsed as `type`, nil when absent; throws
    /// `GatewayError.invalidArgument` when it does not parse.
    public func value<T: LosslessStringConvertible>(_ name: String, as type: T.Type) throws -> T? {
        guard let text = self[name] else { return nil }
        guard let value = T(text) else { throw GatewayError.invalidArgument(name: name, value: text) }
        return value
    }
}
