/// A configuration problem, located: file, line (0 when unknown) and key.
public struct ConfigError: Error, CustomStringConvertible, Equatable {
    public let file: String
    public let line: Int
    public let key: String
    public let message: String

    public init(file: String, line: Int, key: String, message: String) {
        self.file = file
        self.line = line
        self.key = key
        self.message = message
    }

    public var description: String {
        let at = line > 0 ? "\(file):\(line)" : file
        return key.isEmpty ? "\(at): \(message)" : "\(at): key '\(key)': \(message)"
    }
}
