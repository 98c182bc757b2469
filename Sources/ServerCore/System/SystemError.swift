import SystemPackage

/// A failed system call: the name of the call, what it acted on, and errno.
/// Its description reads like nginx's: `bind() to 127.0.0.1:80 failed: Permission denied (errno 13)`.
public struct SystemError: Error, CustomStringConvertible, Equatable {
    public let call: String
    public let subject: String
    public let errno: Errno

    public init(_ call: String, _ subject: String = "", errno: Errno) {
        self.call = call
        self.subject = subject
        self.errno = errno
    }

    public var description: String {
        let on = subject.isEmpty ? "" : " \(subject)"
        return "\(call)()\(on) failed: \(errno.description) (errno \(errno.rawValue))"
    }
}
