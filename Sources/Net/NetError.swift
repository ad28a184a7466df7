import Glibc

/// A failed socket operation: the `errno` it left and what we were doing. Callers act on the
/// errno (ECONNRESET, ETIMEDOUT, EADDRINUSE, ...); the operation is for the log line.
public struct NetError: Error, Sendable, Equatable, CustomStringConvertible {
    public let errno: Int32
    public let operation: String

    public init(errno: Int32, operation: String) {
        self.errno = errno
        self.operation = operation
    }

    /// The error the last failed system call left in the thread's errno.
    static func last(_ operation: String) -> NetError {
        NetError(errno: Glibc.errno, operation: operation)
    }

    public var description: String {
        "\(operation): \(String(cString: strerror(errno))) (errno \(errno))"
    }
}
