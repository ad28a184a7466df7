import Chat
import JSON
import RelayClient

/// The cluster config's `billing` (docs/OPERATIONS.md "Billing"): who charges tips, and where
/// a `payment_failed` sends the user to top up.
///
///     "billing": {"kind": "ledger", "billing_url": "https://pay.example.com/top-up"}
///     "billing": {"kind": "http", "url": "http://127.0.0.1:9000/charge", "timeout_ms": 2000}
struct BillingConfig: Equatable {
    enum Kind: Equatable {
        /// The embedded ledger: balances on the users' shards (the default).
        case ledger
        /// An outside service: each charge is a POST to `url` with an idempotency key.
        case http(url: String, timeoutMs: Int)
    }
    var kind: Kind = .ledger
    var billingURL: String = ChatService.defaultBillingURL

    /// The bounds of `timeout_ms`: a charge holds its client's request that long at most.
    static let defaultTimeoutMs = 2_000
    static let timeoutRangeMs = 50...30_000

    static func parse(_ value: JSON?, source: String) throws(ConfigError) -> BillingConfig {
        var config = BillingConfig()
        guard let value, value != .null else { return config }
        guard let o = value.objectValue else { throw ConfigError("\(source): \"billing\" is an object") }
        if let url = o["billing_url"] {
            guard let text = url.stringValue, !text.isEmpty, text.utf8.count <= 2_048 else {
                throw ConfigError("\(source): \"billing.billing_url\" is a URL (a string)")
            }
            config.billingURL = text
        }
        switch o["kind"]?.stringValue ?? "ledger" {
        case "ledger": break
        case "http":
            guard let url = o["url"]?.stringValue, BlockingHTTPClient.parse(url: url) != nil else {
                throw ConfigError("\(source): \"billing.url\" must be http://IPV4:PORT/PATH for \"kind\": \"http\"")
            }
            let timeout = Int(o["timeout_ms"]?.intValue ?? Int64(defaultTimeoutMs))
            guard timeoutRangeMs.contains(timeout) else {
                throw ConfigError("\(source): \"billing.timeout_ms\" must be \(timeoutRangeMs.lowerBound) to \(timeoutRangeMs.upperBound)")
            }
            config.kind = .http(url: url, timeoutMs: timeout)
        case let other: throw ConfigError("\(source): \"billing.kind\" is \"ledger\" or \"http\", not \"\(other)\"")
        }
        return config
    }
}
