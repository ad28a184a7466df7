import Ring
import Store

/// What replication tells the shard service: the term to seal a shard's entries with,
/// that an entry was committed locally, how far the replicas hold the shard's log, and
/// whether this node takes writes for the shard now.
public protocol ReplicationGate: AnyObject {
    func term(_ shard: Int) -> Int64
    func committed(shard: Int, lsn: Int64)
    func released(_ shard: Int) -> Int64
    func serves(_ shard: Int) -> Bool
}

/// What a checker watches the shard service answer (the simulation records every ack).
public protocol ShardServiceObserver: AnyObject {
    func delivered<Op: ShardOperation>(_ op: Op, _ result: Result<Op.Reply, ChatError>, shard: Int)
}

/// Serves shard operations for the shards this node leads, on the node's event loop: runs
/// each operation's rule in its shard's open transaction, holds the reply until it may leave
/// (`GroupCommit`), then carries out the rule's effects (pushes, coalesced receipts, outbox
/// jobs). The rules themselves live in the feature files (Accounts, Conversations, Messaging,
/// Receipts); nothing here knows what an operation means.
public final class ShardService {
    public let nodeID: String
    let files: ShardFiles
    let shardMap: ShardMap
    let random: RandomSource
    public weak var sink: EventSink?
    /// Runs a closure after a delay on the loop (coalesced receipts, job retries).
    let schedule: (Int64, @escaping () -> Void) -> Void
    let clock: () -> Int64
    let commits: GroupCommit
    private var coalescer = ReceiptCoalescer()
    /// Typing events let through per (user, conversation) on the shards led here.
    let typing = TypingLimiter()
    /// Told of every answer that leaves (nil in a node).
    public weak var observer: ShardServiceObserver?
    /// Outbox jobs this node runs for the shards it leads (set once routing exists).
    public private(set) var outbox: OutboxRunner!
    /// Who is connected anywhere (the cluster's directory); nil turns notifications off.
    public weak var online: OnlineUsers?
    /// Where notifications are pushed besides the in-app list (the node's push gateway).
    public var notificationHook: NotificationHook?
    /// Replication (nil on a node without replicas: a local commit releases the replies).
    public weak var gate: ReplicationGate? {
        didSet { commits.gate = gate }
    }

    /// The longest history page (PROTOCOL.md).
    public static let maxPageSize = 100

    public init(nodeID: String, files: ShardFiles, shardMap: ShardMap, random: RandomSource,
                clock: @escaping () -> Int64, schedule: @escaping (Int64, @escaping () -> Void) -> Void) {
        self.nodeID = nodeID
        self.files = files
        self.shardMap = shardMap
        self.random = random
        self.clock = clock
        self.schedule = schedule
        commits = GroupCommit(files: files)
    }

    /// Jobs call other shards through `router` (the node's, or a local one).
    public func attach(router: ShardRouter) {
        outbox = OutboxRunner(service: self, router: router, clock: clock, schedule: schedule)
    }

    // MARK: Serving

    /// Runs the operation on its shard and answers once the answer may leave.
    public func handle<Op: ShardOperation>(_ op: Op, reply: @escaping (Result<Op.Reply, ChatError>) -> Void) {
        let shard = shardMap.shard(for: op.key)
        guard !commits.isFull else {
            return reply(.failure(.unavailable("too many answers waiting for replicas on \(nodeID)", retryAfterMs: 1_000)))
        }
        let store: ShardStore
        do { store = try files.store(shard) } catch {
            return reply(.failure(.unavailable("shard \(shard) cannot be opened")))
        }
        let context = ShardContext(shard: shard, store: store, now: clock(), random: random, typing: typing, online: online,
                                   pushesNotifications: notificationHook != nil)
        let before = store.db.totalChanges
        let result: Result<Op.Reply, ChatError>
        do {
            result = .success(try op.run(in: context))
        } catch let error as ChatError {
            // Rules check before they write; one that wrote and then refused broke that rule,
            // and its half-done writes must not be committed.
            if store.db.totalChanges != before {
                commits.abandon(shard: shard, .unavailable("shard \(shard): \(Op.code) refused after writing; retry", retryAfterMs: 0))
            }
            result = .failure(error)
        } catch {
            commits.abandon(shard: shard, .unavailable("storage error on shard \(shard): \(error)"))
            return reply(.failure(.unavailable("storage error on shard \(shard)")))
        }
        let effects = context.effects, awaitJob = context.replyAfterJob
        commits.hold(store, deliver: { [weak self] in
            self?.observer?.delivered(op, result, shard: shard)
            guard let self, let awaitJob, case .success = result else {
                reply(result)
                self?.carryOut(effects, shard: shard)
                return
            }
            // The reply waits for the job's first run (a direct chat in both users' indexes).
            outbox.whenDone(shard: shard, awaitJob) { done in
                if case .failure(let error) = done { reply(.failure(error)) } else { reply(result) }
            }
            carryOut(effects, shard: shard)
        }, fail: { reply(.failure($0)) })
    }

    /// A peer's request: decoded by its code, served, answered in the same encoding.
    public func serve(code: UInt16, payload: [UInt8], respond: @escaping ([UInt8]) -> Void) throws(ShardCodecError) {
        let op = try Operations.decode(code: code, payload: payload)
        serveDecoded(op, respond: respond)
    }

    private func serveDecoded<Op: ShardOperation>(_ op: Op, respond: @escaping ([UInt8]) -> Void) {
        handle(op) { result in respond(Operations.encode(result: result, of: Op.self)) }
    }

    /// The shard a peer's request is for (to check this node serves it before decoding all).
    public func shard(of op: any ShardOperation) -> Int { shardMap.shard(for: op.key) }

    // MARK: Effects

    private func carryOut(_ effects: [Effect], shard: Int) {
        for effect in effects {
            switch effect {
            case .push(let event, let users, let except):
                sink?.push(event, to: users, except: except)
            case .receipt(let key, let recipients, let delivered, let read):
                announce(key, recipients: recipients, delivered: delivered, read: read)
            case .startJob(let id):
                outbox.start(shard: shard, jobID: id)
            }
        }
    }

    private func announce(_ key: ReceiptCoalescer.Key, recipients: Set<String>, delivered: Int64, read: Int64) {
        switch coalescer.offer(key, recipients: recipients, now: clock()) {
        case .merged:
            return
        case .sendNow:
            sink?.push(EventJSON.receiptEvent(conversationID: key.conversationID, user: key.user, delivered: delivered, read: read),
                       to: recipients.sorted(), except: nil)
        case .sendAt(let at):
            schedule(max(0, at - clock())) { [weak self] in self?.fireReceipt(key) }
        }
    }

    /// Sends the merged receipt with the cursors as they stand now.
    private func fireReceipt(_ key: ReceiptCoalescer.Key) {
        let recipients = coalescer.fire(key, now: clock())
        guard !recipients.isEmpty,
              let store = try? files.store(shardMap.shard(for: .conversation(key.conversationID))),
              let member = try? store.member(conversationID: key.conversationID, user: key.user) else { return }
        sink?.push(EventJSON.receiptEvent(conversationID: key.conversationID, user: key.user,
                                          delivered: member.delivered, read: member.read),
                   to: recipients.sorted(), except: nil)
    }

    // MARK: Commit, release, stepping down

    /// Rounds of `commit` per loop turn: a request chain is a handful of steps long.
    static let maxCommitRounds = 16

    /// Commits until no write is waiting; true if some still are (the caller runs another
    /// loop turn at once instead of sleeping). Replies released by a commit may issue new
    /// writes (opening a chat, then sending into it): hence the rounds.
    @discardableResult
    public func commitAll() -> Bool {
        for _ in 0..<Self.maxCommitRounds {
            commits.commit()
            if !commits.hasPending && !files.hasDirtyShards { return false }
        }
        return true
    }

    /// The replicas hold the shard's entries up to `lsn`: answer the replies waiting on them.
    public func release(shard: Int, through lsn: Int64) { commits.release(shard: shard, through: lsn) }

    /// This node started leading the shard: its outbox's jobs are this node's to drive.
    public func startedLeading(shard: Int) { outbox?.resume(shard: shard) }

    /// This node stopped leading the shard: its uncommitted writes are dropped and every
    /// reply still waiting fails `unavailable` (the client retries at the new primary; a
    /// send is idempotent on its client_id, so it is stored once either way); its jobs stop.
    public func abandon(shard: Int) {
        commits.abandon(shard: shard, .unavailable("shard \(shard) changed primary; retry", retryAfterMs: 0))
        outbox?.stop(shard: shard)
    }

    /// Replies waiting for replicas, on every shard.
    public var waitingCount: Int { commits.waitingCount }

    /// Reads of a conversation the user is not in: the same answer whether or not it exists,
    /// so ids cannot be probed.
    static func notMember(_ id: String) -> ChatError { ChatError(.forbidden, "not a member of \(id)") }
}
