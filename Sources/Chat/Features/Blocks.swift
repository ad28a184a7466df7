import Store
import Wire

// Blocking (PROTOCOL.md "Rules that the server enforces"): when bob blocks alice, her messages
// to him in their direct chat are accepted and acked as usual but stored hidden from him
// (`messages.hidden_for`), pushed to nobody but her own devices, and logged in his moderation
// log; her `typing` events do not reach him either. The block's source of truth is the blocker's user shard (`blocks`); an outbox job marks
// it on the direct chat's shard (`direct_blocks`), where `SendMessage` reads it. Each change of
// a block carries a version (per blocker and blocked user) and the mark applies only a newer
// one, so an unblock is never overtaken by the block before it. The front's side is in
// ChatService+Blocks.swift; the SQL in Blocks+Store.swift.

public enum BlockLimits {
    /// Users one user may block: bounds `GET /v1/blocks` (one reply) and the user's rows.
    public static let maxBlocksPerUser = 10_000
    /// Characters of a blocked message's body kept in the moderation log.
    public static let previewCharacters = 100
    /// Entries one moderation log read returns by default, and at most.
    public static let defaultLogEntries = 100
    public static let maxLogEntries = 1_000
    /// Moderation log rows deleted per shard per prune round (the primary prunes every
    /// `pruneIntervalMs`): bounds the work and the log entry of one round.
    public static let prunePerRound = 1_000
    public static let pruneIntervalMs: Int64 = 60_000
    /// How long moderation log entries are kept unless the cluster config says otherwise
    /// (`moderation_log_days`).
    public static let defaultRetentionDays = 30
}

/// Blocks or unblocks `target` for `user` (idempotent). A change records a new version and
/// the job that marks it on the direct chat's shard; the reply waits for that job's first run,
/// so once a block is answered the next message is already hidden. A repeat of the current
/// state changes nothing (and waits for the job still running, if any).
public struct SetBlock: ShardOperation {
    public static let code = OperationCode.setBlock
    public var user: String
    public var target: String
    public var blocked: Bool
    public init(user: String, target: String, blocked: Bool) {
        self.user = user
        self.target = target
        self.blocked = blocked
    }
    public var key: ShardKey { .user(user) }
    public func encode(_ w: inout WireWriter) { w.writeString(user); w.writeString(target); w.writeBool(blocked) }
    public init(from r: inout WireReader) throws { self.init(user: try r.readText(), target: try r.readText(), blocked: try r.readBool()) }
    public static func encode(reply: Done, _ w: inout WireWriter) {}
    public static func decodeReply(_ r: inout WireReader) throws -> Done { Done() }

    public func run(in context: ShardContext) throws -> Done {
        guard target != user else { throw ChatError.badRequest("you cannot block yourself") }
        let store = context.store
        let current = try store.block(user: user, blocked: target)
        if let current, current.active == blocked {
            let job = MarkDirectBlock(blocker: user, blocked: target, active: blocked, version: current.version)
            if try store.job(job.id) != nil { context.awaitJob(id: job.id) }
            return Done()
        }
        if current == nil, !blocked { return Done() }   // never blocked: nothing to undo
        if blocked, try store.activeBlockCount(user: user) >= BlockLimits.maxBlocksPerUser {
            throw ChatError(.conflict, "at most \(BlockLimits.maxBlocksPerUser) blocked users")
        }
        let version = (current?.version ?? 0) + 1
        try store.setBlock(user: user, blocked: target, active: blocked, version: version, now: context.now)
        let job = MarkDirectBlock(blocker: user, blocked: target, active: blocked, version: version)
        try context.enqueue(job, id: job.id, origin: key, replyWhenDone: true)
        return Done()
    }
}

/// The users `user` blocks, in byte order (`GET /v1/blocks`).
public struct BlockList: ShardOperation {
    public static let code = OperationCode.blockList
    public var user: String
    public init(user: String) { self.user = user }
    public var key: ShardKey { .user(user) }
    public func encode(_ w: inout WireWriter) { w.writeString(user) }
    public init(from r: inout WireReader) throws { user = try r.readText() }
    public static func encode(reply: [String], _ w: inout WireWriter) { w.writeStrings(reply) }
    public static func decodeReply(_ r: inout WireReader) throws -> [String] { try r.readStrings() }
    public func run(in context: ShardContext) throws -> [String] { try context.store.blockedUsers(user: user) }
}

/// Marks a block (or its end) on the direct chat's shard, if `version` is newer than the
/// mark there (idempotent, and order-proof: an older change arriving late is ignored).
public struct SetDirectBlock: ShardOperation {
    public static let code = OperationCode.setDirectBlock
    public var blocker: String
    public var blocked: String
    public var active: Bool
    public var version: Int64
    public init(blocker: String, blocked: String, active: Bool, version: Int64) {
        self.blocker = blocker
        self.blocked = blocked
        self.active = active
        self.version = version
    }
    public var conversationID: String { Identifiers.directConversation(blocker, blocked) }
    public var key: ShardKey { .conversation(conversationID) }
    public func encode(_ w: inout WireWriter) { w.writeString(blocker); w.writeString(blocked); w.writeBool(active); w.writeInt(version) }
    public init(from r: inout WireReader) throws {
        self.init(blocker: try r.readText(), blocked: try r.readText(), active: try r.readBool(), version: try r.readInt())
    }
    public static func encode(reply: Done, _ w: inout WireWriter) {}
    public static func decodeReply(_ r: inout WireReader) throws -> Done { Done() }
    public func run(in context: ShardContext) throws -> Done {
        try context.store.markDirectBlock(conversationID: conversationID, blocker: blocker, active: active, version: version)
        return Done()
    }
}

/// The outbox job of `SetBlock`: one idempotent, versioned mark on the direct chat's shard.
public struct MarkDirectBlock: OutboxJob {
    public static let kind = JobKind.markDirectBlock
    public var blocker: String
    public var blocked: String
    public var active: Bool
    public var version: Int64
    public init(blocker: String, blocked: String, active: Bool, version: Int64) {
        self.blocker = blocker
        self.blocked = blocked
        self.active = active
        self.version = version
    }
    public var id: String { "block:\(blocker):\(blocked):\(version)" }
    public init(payload: [UInt8]) throws {
        var r = WireReader(payload)
        self.init(blocker: try r.readText(), blocked: try r.readText(), active: try r.readBool(), version: try r.readInt())
    }
    public var payload: [UInt8] {
        var w = WireWriter()
        w.writeString(blocker); w.writeString(blocked); w.writeBool(active); w.writeInt(version)
        return w.bytes
    }
    public func step(progress: [UInt8]?, context: JobContext, done: @escaping (JobStep) -> Void) {
        context.router.call(SetDirectBlock(blocker: blocker, blocked: blocked, active: active, version: version)) { result in
            if case .failure(let error) = result { return done(.failed(error)) }
            done(.finished)
        }
    }
}

// MARK: The moderation log

/// One blocked attempt, as the moderation log keeps it (on the blocker's user shard).
public struct ModerationEntry: Sendable, Equatable {
    public var sender: String
    public var conversationID: String
    public var seq: Int64
    public var ts: Int64
    public var preview: String
    public init(sender: String, conversationID: String, seq: Int64, ts: Int64, preview: String) {
        self.sender = sender
        self.conversationID = conversationID
        self.seq = seq
        self.ts = ts
        self.preview = preview
    }

    /// At most `BlockLimits.previewCharacters` characters of the body, as the log keeps them;
    /// nothing of a `ciphertext` body, which the server never reads.
    public static func preview(of body: String, kind: MessageKind = .text) -> String {
        kind == .ciphertext ? "" : String(body.prefix(BlockLimits.previewCharacters))
    }
}

extension WireWriter {
    mutating func write(_ e: ModerationEntry) {
        writeString(e.sender); writeString(e.conversationID); writeInt(e.seq); writeInt(e.ts); writeString(e.preview)
    }
}

extension WireReader {
    mutating func readModerationEntry() throws -> ModerationEntry {
        ModerationEntry(sender: try readText(), conversationID: try readText(), seq: try readInt(), ts: try readInt(),
                        preview: try readText())
    }
}

/// Adds a blocked attempt to the blocker's moderation log, once per (conversation, seq): a
/// job that runs twice, or a send retried under the same client_id (which stores nothing new
/// and enqueues nothing), logs it once.
public struct RecordModeration: ShardOperation {
    public static let code = OperationCode.recordModeration
    public var user: String
    public var entry: ModerationEntry
    public init(user: String, entry: ModerationEntry) {
        self.user = user
        self.entry = entry
    }
    public var key: ShardKey { .user(user) }
    public func encode(_ w: inout WireWriter) { w.writeString(user); w.write(entry) }
    public init(from r: inout WireReader) throws { self.init(user: try r.readText(), entry: try r.readModerationEntry()) }
    public static func encode(reply: Done, _ w: inout WireWriter) {}
    public static func decodeReply(_ r: inout WireReader) throws -> Done { Done() }
    public func run(in context: ShardContext) throws -> Done {
        try context.store.insertModerationEntry(user: user, entry)
        return Done()
    }
}

/// The outbox job `SendMessage` records with a hidden message: its moderation log entry on
/// the blocker's shard.
public struct LogBlockedAttempt: OutboxJob {
    public static let kind = JobKind.logBlockedAttempt
    public var blocker: String
    public var entry: ModerationEntry
    public init(blocker: String, entry: ModerationEntry) {
        self.blocker = blocker
        self.entry = entry
    }
    /// One per hidden message: (conversation, seq) names it.
    public var id: String { "modlog:\(entry.conversationID):\(entry.seq)" }
    public init(payload: [UInt8]) throws {
        var r = WireReader(payload)
        self.init(blocker: try r.readText(), entry: try r.readModerationEntry())
    }
    public var payload: [UInt8] {
        var w = WireWriter()
        w.writeString(blocker); w.write(entry)
        return w.bytes
    }
    public func step(progress: [UInt8]?, context: JobContext, done: @escaping (JobStep) -> Void) {
        context.router.call(RecordModeration(user: blocker, entry: entry)) { result in
            if case .failure(let error) = result { return done(.failed(error)) }
            done(.finished)
        }
    }
}

/// The newest entries of a user's moderation log at or after `since` (entries older than the
/// retention are not shown even before the prune removes them), newest first.
public struct ModerationLog: ShardOperation {
    public static let code = OperationCode.moderationLog
    public var user: String
    public var since: Int64
    public var limit: Int
    public init(user: String, since: Int64, limit: Int) {
        self.user = user
        self.since = since
        self.limit = limit
    }
    public var key: ShardKey { .user(user) }
    public func encode(_ w: inout WireWriter) { w.writeString(user); w.writeInt(since); w.writeU32(UInt32(clamping: limit)) }
    public init(from r: inout WireReader) throws { self.init(user: try r.readText(), since: try r.readInt(), limit: Int(try r.readU32())) }
    public static func encode(reply: [ModerationEntry], _ w: inout WireWriter) { w.writeList(reply) { e, w in w.write(e) } }
    public static func decodeReply(_ r: inout WireReader) throws -> [ModerationEntry] {
        try r.readList(minBytes: 28) { try $0.readModerationEntry() }
    }
    public func run(in context: ShardContext) throws -> [ModerationEntry] {
        try context.store.moderationEntries(user: user, since: since, limit: max(1, min(limit, BlockLimits.maxLogEntries)))
    }
}

// MARK: The send's side

extension ShardStore {
    /// The member of a direct chat who blocks `sender` there (nil: none, or not a direct chat).
    func directBlocker(of sender: String, in conversation: ConversationRecord) throws(StoreError) -> String? {
        guard conversation.kind == ConversationKind.direct.rawValue else { return nil }
        return try directBlocker(of: sender, inConversation: conversation.id)
    }

    /// The same for a conversation id: nil for anything but a direct chat between two users.
    func directBlocker(of sender: String, inConversation id: String) throws(StoreError) -> String? {
        guard let (a, b) = Identifiers.directMembers(id), a != b else { return nil }
        let other = a == sender ? b : a
        return try isDirectBlockActive(conversationID: id, blocker: other) ? other : nil
    }
}
