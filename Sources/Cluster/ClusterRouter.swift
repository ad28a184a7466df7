import Chat
import Net
import Peer
import Ring

/// Where each shard's requests go: the primary this node knows of, and whether it is this
/// node and it takes writes now (`Replicator`).
public protocol ShardRoutes: AnyObject {
    func route(_ shard: Int) -> String?
    func serves(_ shard: Int) -> Bool
    /// Whether this node sees a majority of the ring alive (without it nothing is served).
    var hasMajority: Bool { get }
    /// Live peers this node's links reach, to relay through when its own link to a
    /// primary is cut.
    func relays(avoiding target: String) -> [String]
    /// Whether this node's own link to the peer works (as far as it knows).
    func reaches(_ node: String) -> Bool
}

/// Sends each shard request to the shard's primary: served here when this node leads and
/// holds the shard, forwarded over the peer protocol otherwise. While a shard has no
/// primary that can serve it (its node died, or a handoff is moving it) the request is
/// retried for a short while, so a client sees at most a brief delay or `unavailable`.
public final class ClusterRouter: ShardRouter {
    /// How long a request keeps trying before the client gets `unavailable`.
    static let retryBudgetMs: Int64 = 2_500
    /// Pause between tries: gossip and handoffs settle in hundreds of milliseconds.
    static let retryDelayMs: Int64 = 150
    /// What the client is told to wait before its own retry.
    static let clientRetryAfterMs: Int64 = 1_000

    let me: String
    let loop: Timers
    let service: ShardService
    let shardMap: ShardMap
    let peer: PeerMessenger
    /// Who leads each shard, as replication sees it (the node's `Replicator`).
    unowned let routes: ShardRoutes
    /// Requests tried again because their shard had no primary that could take them.
    public private(set) var retries = 0
    /// Requests answered `unavailable` at once because this node saw no majority.
    public private(set) var refusedWithoutMajority = 0
    /// Requests sent through another node because this node's own link to the primary failed.
    public private(set) var relayed = 0

    public init(me: String, loop: Timers, service: ShardService, shardMap: ShardMap, peer: PeerMessenger, routes: ShardRoutes) {
        self.me = me
        self.loop = loop
        self.service = service
        self.shardMap = shardMap
        self.peer = peer
        self.routes = routes
    }

    public func call<Op: ShardOperation>(_ op: Op, reply: @escaping (Result<Op.Reply, ChatError>) -> Void) {
        // A minority answers at once (issue 10): no primary can serve here until it sees a
        // majority again, and waiting would only delay the client's retry elsewhere.
        guard routes.hasMajority else {
            refusedWithoutMajority += 1
            return reply(.failure(.unavailable("\(me) cannot see a majority of the cluster; try another node",
                                               retryAfterMs: Self.clientRetryAfterMs)))
        }
        attempt(op, deadline: loop.monotonicMs + Self.retryBudgetMs, reply: reply)
    }

    private func attempt<Op: ShardOperation>(_ op: Op, deadline: Int64, reply: @escaping (Result<Op.Reply, ChatError>) -> Void) {
        let shard = shardMap.shard(for: op.key)
        let retry: (String) -> Void = { [weak self] why in
            guard let self else { return }
            guard loop.monotonicMs + Self.retryDelayMs < deadline else {
                return reply(.failure(.unavailable(why, retryAfterMs: Self.clientRetryAfterMs)))
            }
            retries += 1
            loop.schedule(afterMs: Self.retryDelayMs) { [weak self] in self?.attempt(op, deadline: deadline, reply: reply) }
        }
        guard let primary = routes.route(shard) else {
            return retry("shard \(shard) has no live primary")
        }
        if primary == me {
            service.handle(op) { result in
                if case .failure(let error) = result, error.code == .unavailable, error.retryAfterMs == 0 {
                    retry(error.message)   // the primary changed under the request: try the new one
                } else {
                    reply(result)
                }
            }
            return
        }
        let (code, payload) = Operations.encode(op)
        // This node's own link to the primary is cut (a one-way cut, heavy loss): through a
        // peer that reaches it, so writes this node's clients send are not stalled (issue 10).
        let via = routes.reaches(primary) ? nil : routes.relays(avoiding: primary).first
        let send: (@escaping (Result<[UInt8], PeerError>) -> Void) -> Void = { [weak self] done in
            guard let self else { return }
            if let via {
                relayed += 1
                peer.request(via, operation: ClusterOp.relay.rawValue, payload: ClusterCodec.relay(to: primary, code: code, payload: payload),
                             reply: done)
            } else {
                peer.request(primary, operation: code, payload: payload, reply: done)
            }
        }
        send { result in
            switch result {
            case .success(let bytes):
                switch try? Operations.decodeResult(bytes, of: Op.self) {
                case .some(.failure(let error)) where error.code == .unavailable && error.retryAfterMs == 0:
                    retry(error.message)   // the primary is not ready: settle and try again
                case .some(let decoded):
                    reply(decoded)
                case .none:
                    reply(.failure(.unavailable("malformed reply from \(primary)")))
                }
            case .failure(.timedOut):
                // It may have been applied: do not repeat, let the client retry (idempotently).
                reply(.failure(.unavailable("no answer from \(primary) in time", retryAfterMs: Self.clientRetryAfterMs)))
            case .failure(let error):
                retry("\(primary): \(error)")
            }
        }
    }

    /// A shard operation from another node: served only if this node leads and holds the
    /// shard in its own view; otherwise "not here yet" (retryAfterMs 0), which the sender retries.
    public func serve(operation: UInt16, payload: [UInt8], respond: @escaping (Result<[UInt8], PeerHandlerError>) -> Void) {
        let op: any ShardOperation
        do { op = try Operations.decode(code: operation, payload: payload) } catch {
            return respond(.failure(PeerHandlerError("\(error)")))
        }
        serve(op, respond: respond)
    }

    private func serve<Op: ShardOperation>(_ op: Op, respond: @escaping (Result<[UInt8], PeerHandlerError>) -> Void) {
        let shard = shardMap.shard(for: op.key)
        guard routes.serves(shard) else {
            let refusal = ChatError.unavailable("shard \(shard) is not served by \(me) now", retryAfterMs: 0)
            return respond(.success(Operations.encode(result: .failure(refusal), of: Op.self)))
        }
        service.handle(op) { result in respond(.success(Operations.encode(result: result, of: Op.self))) }
    }

    /// A peer asks this node to forward an operation to a primary its own link cannot reach.
    func relay(_ payload: [UInt8], from: String, respond: @escaping (Result<[UInt8], PeerHandlerError>) -> Void) {
        guard let (target, code, inner) = try? ClusterCodec.decodeRelay(payload), target != me else {
            return respond(.failure("malformed relay"))
        }
        peer.request(target, operation: code, payload: inner) { result in
            switch result {
            case .success(let bytes): respond(.success(bytes))
            case .failure(.remote(let message)): respond(.failure(PeerHandlerError(message)))
            case .failure(let error): respond(.failure(PeerHandlerError("relay to \(target): \(error)")))
            }
        }
    }
}
