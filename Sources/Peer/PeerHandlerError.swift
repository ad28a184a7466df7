/// A request handler's refusal, sent back as an error response and surfaced to the caller as
/// `PeerError.remote(message)`. (`Result` needs an `Error` failure type, and making `String`
/// one would leak a global conformance; a string literal still works: `.failure("no user \(id)")`.)
public struct PeerHandlerError: Error, Sendable, Equatable, ExpressibleByStringInterpolation,
    CustomStringConvertible {
    public var message: String

    public init(_ message: String) {
        self.message = message
    }

    public init(stringLiteral message: String) {
        self.message = message
    }

    public var description: String { message }
}
