import Chat

/// Counters for `GET /metrics` (Prometheus text format 0.0.4).
final class Metrics {
    var httpRequests = 0
    var httpErrors = 0
    var webSocketsOpened = 0
    var webSocketsClosed = 0
    var messagesAcked = 0
    var eventsPushed = 0
    var slowClientsDropped = 0
    var badFrames = 0

    /// `counters` and `gauges` are (name, help, value) read from other parts at render time.
    func render(nodeID: String, counters: [(String, String, Int)], gauges: [(String, String, Int)],
                logins: LoginThrottle.Stats) -> String {
        var out = ""
        func line(_ name: String, _ help: String, _ type: String, _ value: Int) {
            out += "# HELP relay_\(name) \(help)\n# TYPE relay_\(name) \(type)\nrelay_\(name){node=\"\(nodeID)\"} \(value)\n"
        }
        line("http_requests_total", "HTTP requests answered", "counter", httpRequests)
        line("http_errors_total", "HTTP requests answered with an error status", "counter", httpErrors)
        line("websockets_opened_total", "WebSocket sessions opened", "counter", webSocketsOpened)
        line("websockets_closed_total", "WebSocket sessions closed", "counter", webSocketsClosed)
        line("messages_acked_total", "sends acknowledged to clients", "counter", messagesAcked)
        line("events_pushed_total", "events written to live connections", "counter", eventsPushed)
        line("slow_clients_dropped_total", "connections closed for not reading", "counter", slowClientsDropped)
        line("bad_frames_total", "client frames refused as malformed", "counter", badFrames)
        line("login_failures_total", "logins refused for a wrong user or password (checked)", "counter", logins.failures)
        // One series per rule that refused (LoginThrottle.Rule): which defence is being hit.
        out += "# HELP relay_login_throttled_total logins refused with rate_limited before any check, by rule\n"
        out += "# TYPE relay_login_throttled_total counter\n"
        for (rule, value) in [("pair", logins.throttledByPair), ("address", logins.throttledByAddress),
                              ("account", logins.throttledByAccount)] {
            out += "relay_login_throttled_total{node=\"\(nodeID)\",rule=\"\(rule)\"} \(value)\n"
        }
        line("login_throttle_evictions_total", "login throttle entries forgotten to stay within its bounds", "counter", logins.evictions)
        for (name, help, value) in counters { line(name, help, "counter", value) }
        for (name, help, value) in gauges { line(name, help, "gauge", value) }
        return out
    }
}
