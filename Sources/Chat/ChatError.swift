/// A failure a client can act on: one protocol error code (PROTOCOL.md "Errors"), mapped to
/// its HTTP status in one place.
public struct ChatError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Code: String, Sendable {
        case badRequest = "bad_request"
        case unauthorized
        case forbidden
        case notFound = "not_found"
        case conflict
        case tooLarge = "too_large"
        case rateLimited = "rate_limited"
        case paymentFailed = "payment_failed"
        case unavailable
    }

    public let code: Code
    public let message: String
    /// For `rate_limited` and `unavailable`: when to retry.
    public let retryAfterMs: Int64?
    /// For `payment_failed`: where the user tops up (the node's billing config).
    public var billingURL: String?

    public init(_ code: Code, _ message: String, retryAfterMs: Int64? = nil, billingURL: String? = nil) {
        self.code = code
        self.message = message
        self.retryAfterMs = retryAfterMs
        self.billingURL = billingURL
    }

    public var httpStatus: Int {
        switch code {
        case .badRequest: 400
        case .unauthorized: 401
        case .forbidden: 403
        case .notFound: 404
        case .conflict: 409
        case .tooLarge: 413
        case .rateLimited: 429
        case .paymentFailed: 402
        case .unavailable: 503
        }
    }

    public var description: String { "\(code.rawValue): \(message)" }

    public static func badRequest(_ message: String) -> ChatError { ChatError(.badRequest, message) }
    public static let unauthorized = ChatError(.unauthorized, "missing, expired or revoked token")
    /// A storage failure: nothing was applied, the client retries.
    public static func unavailable(_ message: String, retryAfterMs: Int64 = 500) -> ChatError {
        ChatError(.unavailable, message, retryAfterMs: retryAfterMs)
    }
}
