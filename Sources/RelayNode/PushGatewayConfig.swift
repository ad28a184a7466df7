import Chat
import JSON
import RelayClient

/// The cluster config's `push_gateway` (docs/NOTIFICATIONS.md): where notifications are
/// posted besides the in-app list. Absent (the default): in-app only.
///
///     "push_gateway": {"url": "http://127.0.0.1:9100/push", "timeout_ms": 2000, "max_age_s": 3600}
struct PushGatewayConfig: Equatable {
    var url: String
    var timeoutMs: Int
    var maxAgeMs: Int64

    static let defaultTimeoutMs = 2_000
    static let timeoutRangeMs = 50...30_000
    /// How long a failing push is retried (backoff 200 ms doubling to 30 s): 1 s to 7 days.
    static let maxAgeRangeS: ClosedRange<Int64> = 1...604_800

    static func parse(_ value: JSON?, source: String) throws(ConfigError) -> PushGatewayConfig? {
        guard let value, value != .null else { return nil }
        guard let o = value.objectValue else { throw ConfigError("\(source): \"push_gateway\" is an object") }
        guard let url = o["url"]?.stringValue, BlockingHTTPClient.parse(url: url) != nil else {
            throw ConfigError("\(source): \"push_gateway.url\" must be http://IPV4:PORT/PATH")
        }
        let timeout = Int(o["timeout_ms"]?.intValue ?? Int64(defaultTimeoutMs))
        guard timeoutRangeMs.contains(timeout) else {
            throw ConfigError("\(source): \"push_gateway.timeout_ms\" must be \(timeoutRangeMs.lowerBound) to \(timeoutRangeMs.upperBound)")
        }
        let maxAge = o["max_age_s"]?.intValue ?? NotificationLimits.defaultPushMaxAgeMs / 1_000
        guard maxAgeRangeS.contains(maxAge) else {
            throw ConfigError("\(source): \"push_gateway.max_age_s\" must be \(maxAgeRangeS.lowerBound) to \(maxAgeRangeS.upperBound)")
        }
        return PushGatewayConfig(url: url, timeoutMs: timeout, maxAgeMs: maxAge * 1_000)
    }
}
