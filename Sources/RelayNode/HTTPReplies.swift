import Chat
import HTTPWire
import JSON

/// Response builders: every error has the protocol's shape, made here and nowhere else.
enum Reply {
    static func json(_ status: Int, _ value: JSON) -> HTTPResponse {
        HTTPResponse.json(status, value.serialized())
    }

    static func noContent() -> HTTPResponse { HTTPResponse(status: 204) }

    static func error(_ error: ChatError) -> HTTPResponse {
        Reply.error(status: error.httpStatus, code: error.code.rawValue, message: error.message, retryAfterMs: error.retryAfterMs,
                    billingURL: error.billingURL)
    }

    static func error(status: Int, code: String, message: String, retryAfterMs: Int64? = nil, billingURL: String? = nil) -> HTTPResponse {
        var body: JSONObject = ["code": .string(code), "message": .string(message)]
        if let retryAfterMs { body["retry_after_ms"] = .int(retryAfterMs) }
        if let billingURL { body["billing_url"] = .string(billingURL) }
        var response = json(status, ["error": .object(body)])
        if let retryAfterMs { response.headers.set("Retry-After", String((retryAfterMs + 999) / 1000)) }
        return response
    }

    /// The protocol code for an HTTP status the parser or router chose.
    static func code(forStatus status: Int) -> String {
        switch status {
        case 401: "unauthorized"
        case 403: "forbidden"
        case 404: "not_found"
        case 409: "conflict"
        case 413: "too_large"
        case 402: "payment_failed"
        case 429: "rate_limited"
        case 503: "unavailable"
        default: "bad_request"
        }
    }
}
