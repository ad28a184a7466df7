import Chat
import JSON
import Net
import RelayClient

/// The push adapter (`"push_gateway"` in the cluster config): each notification is a POST of
/// `{key, user, conversation_id, seq, sender, preview, ts}` with `Idempotency-Key: KEY`
/// (`RECIPIENT:CONVERSATION:SEQ`). 2xx: delivered; other 4xx but 408 and 429: refused for
/// good (counted, not retried); 408, 429, 5xx, a timeout or no connection: retried by the
/// outbox job with backoff until `max_age_s`. At least once: a repeat after a failover
/// carries the same key, for the gateway to drop.
///
/// The call blocks a worker thread of its own pool (as HTTPBilling), never the event loop.
final class HTTPPushGateway: NotificationHook {
    let host: String
    let port: Int
    let path: String
    let timeoutMs: Int
    let maxAgeMs: Int64
    private let pool: WorkerPool
    /// For `/metrics`: delivered (2xx), refused (4xx), failed (the rest: retried).
    private(set) var delivered = 0, refused = 0, failed = 0

    /// Posts in flight at once per node: each holds a worker thread for up to `timeoutMs`.
    static let threads = 4
    /// Posts waiting for a thread; past it a push fails at once and its job backs off.
    static let maxQueued = 1_024

    init?(_ config: PushGatewayConfig, loop: EventLoop) {
        guard let (host, port, path) = BlockingHTTPClient.parse(url: config.url) else { return nil }
        self.host = host
        self.port = port
        self.path = path
        timeoutMs = config.timeoutMs
        maxAgeMs = config.maxAgeMs
        pool = WorkerPool(threads: Self.threads, loop: loop, maxQueuedJobs: Self.maxQueued)
    }

    func deliver(_ pushed: PushedNotification, done: @escaping (Result<Void, ChatError>) -> Void) {
        let n = pushed.notification, key = pushed.key
        let body: JSON = ["key": .string(key), "user": .string(pushed.recipient), "conversation_id": .string(n.conversationID),
                          "seq": .int(n.seq), "sender": .string(n.sender), "preview": .string(n.preview), "ts": .int(n.ts)]
        let client = BlockingHTTPClient(host: host, port: port, timeoutMs: timeoutMs)
        let path = self.path, bytes = Array(body.serialized().utf8)
        let submitted = pool.submit({
            client.call("POST", path, headers: [("Content-Type", "application/json"), ("Idempotency-Key", key)], body: bytes)
        }) { [weak self] result in
            switch result {
            case .success(let answer) where (200..<300).contains(answer.status):
                self?.delivered += 1
                done(.success(()))
            case .success(let answer) where (400..<500).contains(answer.status) && answer.status != 408 && answer.status != 429:
                self?.refused += 1
                done(.success(()))
            case .success(let answer):
                self?.failed += 1
                done(.failure(.unavailable("the push gateway answered \(answer.status)")))
            case .failure(let failure):
                self?.failed += 1
                done(.failure(.unavailable("the push gateway did not answer: \(failure)")))
            }
        }
        if !submitted {
            failed += 1
            done(.failure(.unavailable("too many pushes waiting for the push gateway")))
        }
    }
}

extension Node {
    /// The push adapter's answers (none without a push gateway).
    var pushCounters: [(String, String, Int)] {
        guard let push = service.notificationHook as? HTTPPushGateway else { return [] }
        return [("push_delivered_total", "notifications the push gateway took (2xx)", push.delivered),
                ("push_refused_total", "notifications the push gateway refused for good (4xx): not retried", push.refused),
                ("push_failed_total", "push attempts that failed (5xx, 408, 429, timeouts, no connection, a full queue): retried",
                 push.failed)]
    }
}
