import Chat
import JSON
import Net
import RelayClient

/// The billing adapter for an outside service (`"billing": {"kind": "http"}`): each tip's
/// charge is a POST of `{user, amount_cents, currency, recipient, client_id}` with
/// `Idempotency-Key: SENDER:CLIENT_ID` (also in the body as `idempotency_key`), so a retried
/// client_id is charged once by the service. A charge already recorded on the sender's shard
/// (a retry) is answered from there without a call. 2xx: charged, then recorded on the sender's shard
/// with the send's job (`ChargeTip`, payer `paid`); 402 and other 4xx: declined; 408, 429,
/// 5xx, a timeout or no connection: `unavailable` (the client retries, same client_id).
///
/// The call is a blocking one on a worker thread of its own pool, with the configured
/// deadline: simpler than a client on the event loop, and the loop never waits for it.
final class HTTPBilling: Billing {
    let host: String
    let port: Int
    let path: String
    let timeoutMs: Int
    private let pool: WorkerPool
    /// Answers of the service, for `/metrics`: charged (2xx), declined (4xx), failed (the rest).
    private(set) var charged = 0, declined = 0, failed = 0

    /// Charges in flight at once per node: each holds a worker thread for up to `timeoutMs`.
    static let threads = 4
    /// Charges waiting for a thread; past it a tip is answered `unavailable` at once.
    static let maxQueued = 256
    /// What a client waits before retrying when the service failed or timed out.
    static let retryAfterMs: Int64 = 1_000

    init?(url: String, timeoutMs: Int, loop: EventLoop) {
        guard let (host, port, path) = BlockingHTTPClient.parse(url: url) else { return nil }
        self.host = host
        self.port = port
        self.path = path
        self.timeoutMs = timeoutMs
        pool = WorkerPool(threads: Self.threads, loop: loop, maxQueuedJobs: Self.maxQueued)
    }

    var keepsBalances: Bool { false }

    /// A tip whose charge is recorded already (a retry) is answered from the record, without
    /// the service: such retries succeed while the service is down.
    func charge(_ charge: TipCharge, router: ShardRouter, done: @escaping (Result<ChargeOutcome, ChatError>) -> Void) {
        router.call(ChargeTip(message: charge.message, recipient: charge.recipient, payer: .lookup)) { [weak self] recorded in
            switch recorded {
            case .success(.unknown): self?.post(charge, router: router, done: done)
            default: done(recorded)
            }
        }
    }

    private func post(_ charge: TipCharge, router: ShardRouter, done: @escaping (Result<ChargeOutcome, ChatError>) -> Void) {
        let tip = charge.tip, key = charge.idempotencyKey
        let body: JSON = ["user": .string(charge.message.sender), "amount_cents": .int(tip.amountCents),
                          "currency": .string(tip.currency), "recipient": .string(charge.recipient),
                          "client_id": .string(charge.message.clientID), "idempotency_key": .string(key)]
        let client = BlockingHTTPClient(host: host, port: port, timeoutMs: timeoutMs)
        let path = self.path, bytes = Array(body.serialized().utf8)
        let submitted = pool.submit({
            client.call("POST", path, headers: [("Content-Type", "application/json"), ("Idempotency-Key", key)], body: bytes)
        }) { [weak self] result in
            switch result {
            case .success(let answer) where (200..<300).contains(answer.status):
                self?.charged += 1
                router.call(ChargeTip(message: charge.message, recipient: charge.recipient, payer: .paid), reply: done)
            case .success(let answer) where (400..<500).contains(answer.status) && answer.status != 408 && answer.status != 429:
                self?.declined += 1
                done(.success(.declined))
            case .success(let answer):
                self?.failed += 1
                done(.failure(.unavailable("the billing service answered \(answer.status); retry", retryAfterMs: Self.retryAfterMs)))
            case .failure(let failure):
                self?.failed += 1
                done(.failure(.unavailable("the billing service did not answer: \(failure); retry", retryAfterMs: Self.retryAfterMs)))
            }
        }
        if !submitted {
            failed += 1
            done(.failure(.unavailable("too many charges waiting for the billing service", retryAfterMs: Self.retryAfterMs)))
        }
    }
}
