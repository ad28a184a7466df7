import Hashing
import Store

/// What a rule gets besides its operation: the shard's store (inside the shard's open
/// transaction), the time, ids, and the effects it asks for, which the service carries out
/// once the reply is released (after the commit and the replicas): events to push, receipt
/// announcements (coalesced), jobs for other shards (the outbox).
public final class ShardContext {
    public let shard: Int
    public let store: ShardStore
    /// Milliseconds since the Unix epoch, read once per operation.
    public let now: Int64
    let random: RandomSource
    private(set) var effects: [Effect] = []
    /// The reply waits for this job to finish (the first run of a job the rule enqueued).
    private(set) var replyAfterJob: String?
    /// Who is connected anywhere in the cluster (nil: notifications are off, as in unit tests
    /// and the simulation that do not set it). Notifications.swift.
    public let online: OnlineUsers?
    /// Whether a push gateway takes notifications (the node's config).
    public let pushesNotifications: Bool

    /// The per-(user, conversation) limit on typing events (TypingLimit.swift).
    let typing: TypingLimiter

    init(shard: Int, store: ShardStore, now: Int64, random: RandomSource, typing: TypingLimiter, online: OnlineUsers? = nil,
         pushesNotifications: Bool = false) {
        self.typing = typing
        self.shard = shard
        self.store = store
        self.now = now
        self.random = random
        self.online = online
        self.pushesNotifications = pushesNotifications
    }

    /// A fresh unguessable id: `prefix` then 24 hex digits (96 random bits).
    public func newID(_ prefix: String) -> String { prefix + Hex.encode(random.bytes(12)) }

    /// Pushes an event to every live connection of each user (wherever connected), except
    /// the one `except` names, once the reply is released.
    public func push(_ event: OutboundEvent, to users: [String], except: ConnectionRef? = nil) {
        guard !users.isEmpty else { return }
        effects.append(.push(event, to: users, except: except))
    }

    /// A receipt event for `recipients`, coalesced per (conversation, user) and second.
    public func announceReceipt(conversationID: String, user: String, recipients: Set<String>, delivered: Int64, read: Int64) {
        effects.append(.receipt(ReceiptCoalescer.Key(conversationID: conversationID, user: user), recipients: recipients,
                                delivered: delivered, read: read))
    }

    /// Records a job for other shards in this shard's outbox (in this transaction, so it is
    /// replicated with the write that caused it) and starts it once the reply is released.
    /// `id` makes it idempotent: a job already in the outbox under that id is left as it is.
    /// `replyWhenDone`: the reply waits for the job's first run (and fails if that run does).
    public func enqueue<Job: OutboxJob>(_ job: Job, id: String, origin: ShardKey, replyWhenDone: Bool = false) throws {
        try store.insertJob(id: id, kind: Job.kind.rawValue, origin: origin.description, payload: job.payload, now: now)
        effects.append(.startJob(id: id))
        if replyWhenDone { replyAfterJob = id }
    }

    /// The reply waits for a job already in the outbox (started by an earlier operation).
    public func awaitJob(id: String) {
        effects.append(.startJob(id: id))
        replyAfterJob = id
    }
}

/// What a rule asks of the service beyond its reply.
enum Effect {
    case push(OutboundEvent, to: [String], except: ConnectionRef?)
    case receipt(ReceiptCoalescer.Key, recipients: Set<String>, delivered: Int64, read: Int64)
    case startJob(id: String)
}
