/// A request the server cannot process. The caller answers with `status` (and `message` as
/// the error text) and then closes the connection: after a framing error the position of the
/// next request in the byte stream is unknown (RFC 9112 section 2.2, 6.3).
public struct HTTPParseError: Error, Sendable, Equatable {
    public let status: Int
    public let message: String

    public init(status: Int, message: String) {
        self.status = status
        self.message = message
    }

    static func badRequest(_ message: String) -> HTTPParseError { .init(status: 400, message: message) }
    static func lengthRequired(_ message: String) -> HTTPParseError { .init(status: 411, message: message) }
    static func bodyTooLarge(_ message: String) -> HTTPParseError { .init(status: 413, message: message) }
    static func uriTooLong(_ message: String) -> HTTPParseError { .init(status: 414, message: message) }
    static func headersTooLarge(_ message: String) -> HTTPParseError { .init(status: 431, message: message) }
    static func notImplemented(_ message: String) -> HTTPParseError { .init(status: 501, message: message) }
    static func versionNotSupported(_ message: String) -> HTTPParseError { .init(status: 505, message: message) }
}
