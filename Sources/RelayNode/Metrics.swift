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

    func render(nodeID: String, gauges: [(String, String, Int)]) -> String {
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
        for (name, help, value) in gauges { line(name, help, "gauge", value) }
        return out
    }
}
