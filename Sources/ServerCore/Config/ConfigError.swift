/// A configuration problem, located: file, line (0 when unknown) and key,
/// or the command-line flag that set the value.
public struct ConfigError: Error, CustomStringConvertible, Equatable {
    public let file: String
    public let line: Int
    public let key: String
    public let message: String
    /// The command-line flag that set the value ("--timeout"), or "".
    public let flag: String

    public init(file: String, line: Int, key: String, message: String, flag: String = "") {
        self.file = file
        self.line = line
        self.key = key
        self.message = message
        self.flag = flag
    }

    public var description: String {
        if !flag.isEmpty { return "\(flag): \(message)" }
        let at = line > 0 ? "\(file):\(line)" : file
        return key.isEmpty ? "\(at): \(message)" : "\(at): key '\(key)': \(message)"
    }
}
