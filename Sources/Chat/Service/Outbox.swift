import Store
import Wire

/// Work that spans shards (DESIGN.md "Writes, replication and failover"): a write on one shard
/// that must cause writes on others (a direct chat in both users' indexes; later a mass
/// message to a list, a charge then a send, notifications) records a job in its shard's
/// outbox in the same transaction, so the job is replicated with the write. The shard's
/// current primary drives it (`OutboxRunner`), step by step, saving its progress in the
/// outbox (replicated too) after each step; a new primary resumes it from the last saved
/// progress. Steps call other shards with idempotent operations only, so a step that runs
/// twice (a primary died after the calls, before saving) has the same effect as once.
public protocol OutboxJob: Sendable {
    static var kind: JobKind { get }
    init(payload: [UInt8]) throws
    var payload: [UInt8] { get }
    /// One step from `progress` (nil at the start: the job's first step). Calls other shards
    /// through `context.router`; calls `done` exactly once.
    func step(progress: [UInt8]?, context: JobContext, done: @escaping (JobStep) -> Void)
}

/// What a step reports.
public enum JobStep: Sendable {
    /// The step's calls are done: save `progress`, then run the next step from it.
    case progressed([UInt8])
    /// The job is complete: it leaves the outbox.
    case finished
    /// A call failed: the same step runs again later, from the same progress.
    case failed(ChatError)
}

public struct JobContext {
    public let router: ShardRouter
    public let now: Int64
    /// Notifications (Notifications.swift): who is connected, and the push gateway if any.
    public var online: OnlineUsers? = nil
    public var hook: NotificationHook? = nil
}

/// Every kind of job, by the name stored in the outbox (never reused for another meaning).
public enum JobKind: String, Sendable, CaseIterable {
    case indexDirectChat = "index_direct_chat"
    case indexMembers = "index_members"
    case sendTip = "send_tip"
    // Blocks and lists (Blocks.swift, Lists.swift).
    case markDirectBlock = "mark_direct_block", logBlockedAttempt = "log_blocked_attempt", listMessage = "list_message"
    // Assets (Assets.swift).
    case recordAssetRefs = "record_asset_refs"
    // Notifications (Notifications.swift).
    case notifyMembers = "notify_members", clearNotifications = "clear_notifications", pushNotification = "push_notification"

    var type: any OutboxJob.Type {
        switch self {
        case .indexDirectChat: return IndexDirectChat.self
        case .indexMembers: return IndexMembers.self
        case .sendTip: return SendTip.self
        case .markDirectBlock: return MarkDirectBlock.self
        case .logBlockedAttempt: return LogBlockedAttempt.self
        case .listMessage: return ListMessageJob.self
        case .recordAssetRefs: return RecordAssetRefs.self
        case .notifyMembers: return NotifyMembers.self
        case .clearNotifications: return ClearNotificationsJob.self
        case .pushNotification: return PushNotificationJob.self
        }
    }
}

/// A row of the outbox.
public struct JobRecord: Sendable, Equatable {
    public var id: String
    public var kind: String
    public var origin: String
    public var payload: [UInt8]
    public var progress: [UInt8]?
}

extension ShardStore {
    /// Adds a job unless one with this id is there already (an idempotent enqueue).
    func insertJob(id: String, kind: String, origin: String, payload: [UInt8], now: Int64) throws(StoreError) {
        try write("INSERT OR IGNORE INTO outbox(id, kind, origin, payload, progress, created_at) VALUES(?,?,?,?,NULL,?)",
                  .text(id), .text(kind), .text(origin), .blob(payload), .int(now))
    }

    public func job(_ id: String) throws(StoreError) -> JobRecord? {
        guard let row = try db.queryOne("SELECT kind, origin, payload, progress FROM outbox WHERE id=?", .text(id)) else { return nil }
        return JobRecord(id: id, kind: row.text(0) ?? "", origin: row.text(1) ?? "", payload: row.blob(2) ?? [],
                         progress: row.isNull(3) ? nil : row.blob(3))
    }

    /// The ids of the jobs in this shard's outbox, oldest first.
    public func jobIDs() throws(StoreError) -> [String] {
        try db.query("SELECT id FROM outbox ORDER BY created_at, id").compactMap { $0.text(0) }
    }

    func saveJobProgress(id: String, progress: [UInt8]) throws(StoreError) -> Bool {
        try write("UPDATE outbox SET progress=? WHERE id=?", .blob(progress), .text(id)) > 0
    }

    func deleteJob(id: String) throws(StoreError) -> Bool {
        try write("DELETE FROM outbox WHERE id=?", .text(id)) > 0
    }
}

/// Saves a job's progress (or removes the finished job) on the job's own shard: how the
/// runner makes each step durable and replicated.
public struct SaveJobProgress: ShardOperation {
    public enum Change: Sendable, Equatable {
        case progress([UInt8])
        case finished
    }
    public static let code = OperationCode.saveJobProgress
    public var origin: ShardKey
    public var jobID: String
    public var change: Change
    public init(origin: ShardKey, jobID: String, change: Change) {
        self.origin = origin
        self.jobID = jobID
        self.change = change
    }
    public var key: ShardKey { origin }

    public func encode(_ w: inout WireWriter) {
        w.writeString(origin.description); w.writeString(jobID)
        switch change {
        case .progress(let bytes): w.writeU8(1); w.writeBytes(bytes)
        case .finished: w.writeU8(0)
        }
    }
    public init(from r: inout WireReader) throws {
        guard let origin = ShardKey(text: try r.readText()) else { throw ShardCodecError("bad job origin") }
        self.origin = origin
        jobID = try r.readText()
        change = try r.readU8() == 1 ? .progress(try r.readBytes(maxBytes: FieldLimits.maxStringBytes)) : .finished
    }
    public static func encode(reply: Bool, _ w: inout WireWriter) { w.writeBool(reply) }
    public static func decodeReply(_ r: inout WireReader) throws -> Bool { try r.readBool() }

    /// True when the job was there (false: another run finished it already).
    public func run(in context: ShardContext) throws -> Bool {
        switch change {
        case .progress(let bytes): return try context.store.saveJobProgress(id: jobID, progress: bytes)
        case .finished: return try context.store.deleteJob(id: jobID)
        }
    }
}
