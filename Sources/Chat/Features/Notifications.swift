import Store
import Wire

// Notifications (PROTOCOL.md "Rules that the server enforces", docs/NOTIFICATIONS.md): a
// message stored for a member with no live connection notifies that member once per
// (recipient, conversation, seq).
//
// - `SendMessage` (Messaging.swift) asks the cluster who of the recipients is connected
//   (`OnlineUsers`, the connection directory) and, if some are not, records a `NotifyMembers`
//   job in the same transaction as the message: replicated with it, so a failover resumes it.
//   Up to `NotificationLimits.maxListedRecipients` offline recipients are named in the job
//   (who was offline when the message was stored); in a bigger group the job pages through the
//   members and asks the directory again at each page, so no job copies 10,000 names.
// - The job calls `AddNotification` on each recipient's user shard: keyed by
//   (recipient, conversation, seq), so a step that runs twice adds it once. It skips muted
//   conversations, blocked senders and messages a read receipt already covers, keeps the newest
//   `maxPerUser` per user (the in-app list, `GET /v1/notifications`) and, when the node has a
//   push gateway, records a `PushNotificationJob` on the user's shard that posts it (retried
//   with backoff, at least once; receivers drop repeats by its key).
// - A read receipt that covers a notified seq (`notify_marks` on the conversation's shard)
//   records a `ClearNotificationsJob`, which removes the user's notifications of that
//   conversation up to the read seq (and keeps later repeats of them out).
// The front's side is in ChatService+Notifications.swift; the SQL in Notifications+Store.swift.

/// Who is connected anywhere in the cluster (the `Cluster` module's directory implements it).
public protocol OnlineUsers: AnyObject {
    func isOnline(_ user: String) -> Bool
}

/// Where notifications go besides the in-app list (RelayNode's HTTP push adapter). `done`
/// with a failure means: try again later (the job backs off); a notification the gateway
/// refuses for good is `done(.success)` after the adapter counted it.
public protocol NotificationHook: AnyObject {
    /// A push the gateway keeps failing is given up this long after its notification.
    var maxAgeMs: Int64 { get }
    func deliver(_ notification: PushedNotification, done: @escaping (Result<Void, ChatError>) -> Void)
}

public enum NotificationLimits {
    /// Characters of a message's body shown in a notification (none of a `ciphertext`).
    public static let previewCharacters = 100
    /// In-app notifications kept per user: the newest this many.
    public static let maxPerUser: Int64 = 500
    /// `GET /v1/notifications` answers at most this many, oldest first.
    public static let defaultPage = 100
    public static let maxPage = 500
    /// Offline recipients a `NotifyMembers` job names; above it the job pages the members.
    public static let maxListedRecipients = 64
    /// Members per page of a big group's job.
    public static let recipientsPerPage = 100
    /// A push the gateway keeps failing is given up this long after its notification
    /// (retries back off from 200 ms to 30 s: OutboxRunner).
    public static let defaultPushMaxAgeMs: Int64 = 3_600_000
}

/// One in-app notification (`GET /v1/notifications`).
public struct ChatNotification: Sendable, Equatable {
    public var id: Int64
    public var conversationID: String
    public var seq: Int64
    public var sender: String
    public var preview: String
    public var ts: Int64
    public init(id: Int64, conversationID: String, seq: Int64, sender: String, preview: String, ts: Int64) {
        self.id = id
        self.conversationID = conversationID
        self.seq = seq
        self.sender = sender
        self.preview = preview
        self.ts = ts
    }
    /// What a message shows: at most `previewCharacters` of its body, nothing of a ciphertext.
    public static func preview(of body: String, kind: MessageKind) -> String {
        kind == .ciphertext ? "" : String(body.prefix(NotificationLimits.previewCharacters))
    }
}

/// A notification as the push gateway gets it: with its recipient and a key
/// (`RECIPIENT:CONVERSATION:SEQ`) under which a receiver drops repeats.
public struct PushedNotification: Sendable, Equatable {
    public var recipient: String
    public var notification: ChatNotification
    public var createdAt: Int64
    public init(recipient: String, notification: ChatNotification, createdAt: Int64) {
        self.recipient = recipient
        self.notification = notification
        self.createdAt = createdAt
    }
    public var key: String { "\(recipient):\(notification.conversationID):\(notification.seq)" }
}

extension WireWriter {
    mutating func write(_ n: ChatNotification) {
        writeInt(n.id); writeString(n.conversationID); writeInt(n.seq); writeString(n.sender); writeString(n.preview); writeInt(n.ts)
    }
}

extension WireReader {
    mutating func readNotification() throws -> ChatNotification {
        ChatNotification(id: try readInt(), conversationID: try readText(), seq: try readInt(), sender: try readText(),
                         preview: try readText(), ts: try readInt())
    }
}

// MARK: The send's side

extension NotifyMembers {
    /// Called by `SendMessage` with the stored message and whom it is pushed to: records the
    /// job if some recipient (not the sender) has no live connection.
    static func enqueueIfOffline(_ message: StoredMessage, kind: MessageKind, recipients: [String], context: ShardContext) throws {
        guard let online = context.online else { return }
        var offline: [String] = []
        var paged = false
        for user in recipients where user != message.sender && !online.isOnline(user) {
            if offline.count == NotificationLimits.maxListedRecipients { paged = true; break }
            offline.append(user)
        }
        guard !offline.isEmpty else { return }
        let job = NotifyMembers(conversationID: message.conversationID, seq: message.seq, sender: message.sender,
                                preview: ChatNotification.preview(of: message.body, kind: kind), ts: message.ts,
                                recipients: paged ? nil : offline)
        if !paged {
            for user in offline { try context.store.markNotified(conversationID: message.conversationID, user: user, seq: message.seq) }
        }
        try context.enqueue(job, id: job.id, origin: .conversation(message.conversationID))
    }
}

/// The job of one message's notifications, on the conversation's shard.
public struct NotifyMembers: OutboxJob {
    public static let kind = JobKind.notifyMembers
    public var conversationID: String
    public var seq: Int64
    public var sender: String
    public var preview: String
    public var ts: Int64
    /// Who was offline when it was stored; nil: a big group, paged (and asked again) by the job.
    public var recipients: [String]?

    public init(conversationID: String, seq: Int64, sender: String, preview: String, ts: Int64, recipients: [String]?) {
        self.conversationID = conversationID
        self.seq = seq
        self.sender = sender
        self.preview = preview
        self.ts = ts
        self.recipients = recipients
    }
    public var id: String { "notify:\(conversationID):\(seq)" }

    public init(payload: [UInt8]) throws {
        var r = WireReader(payload)
        let id = try r.readText(), seq = try r.readInt(), sender = try r.readText(), preview = try r.readText(), ts = try r.readInt()
        let recipients: [String]? = try r.readU8() == 1 ? try r.readStrings() : nil
        self.init(conversationID: id, seq: seq, sender: sender, preview: preview, ts: ts, recipients: recipients)
    }
    public var payload: [UInt8] {
        var w = WireWriter()
        w.writeString(conversationID); w.writeInt(seq); w.writeString(sender); w.writeString(preview); w.writeInt(ts)
        if let recipients { w.writeU8(1); w.writeStrings(recipients) } else { w.writeU8(0) }
        return w.bytes
    }

    func add(for user: String) -> AddNotification {
        AddNotification(user: user, conversationID: conversationID, seq: seq, sender: sender, preview: preview, ts: ts)
    }

    public func step(progress: [UInt8]?, context: JobContext, done: @escaping (JobStep) -> Void) {
        if let recipients {
            return Self.addAll(recipients.map(add(for:)), router: context.router) { failure in
                done(failure.map { .failed($0) } ?? .finished)
            }
        }
        var r = WireReader(progress ?? [])
        let after = progress == nil ? "" : ((try? r.readText()) ?? "")
        let page = NotificationRecipients(conversationID: conversationID, seq: seq, sender: sender, after: after,
                                          limit: NotificationLimits.recipientsPerPage)
        context.router.call(page) { result in
            switch result {
            case .failure(let error): done(.failed(error))
            case .success(let members):
                guard let last = members.last else { return done(.finished) }
                let offline = members.filter { !(context.online?.isOnline($0) ?? false) }
                Self.addAll(offline.map(add(for:)), router: context.router) { failure in
                    if let failure { return done(.failed(failure)) }
                    var w = WireWriter()
                    w.writeString(last)
                    done(.progressed(w.bytes))
                }
            }
        }
    }

    /// All at once (a page at most); the first failure that a retry could cure fails the step.
    static func addAll(_ adds: [AddNotification], router: ShardRouter, done: @escaping (ChatError?) -> Void) {
        guard !adds.isEmpty else { return done(nil) }
        var remaining = adds.count
        var failure: ChatError?
        for add in adds {
            router.call(add) { result in
                if case .failure(let error) = result, error.code == .unavailable || error.code == .rateLimited {
                    failure = failure ?? error
                }
                remaining -= 1
                if remaining == 0 { done(failure) }
            }
        }
    }
}

/// A page of the members a big group's message notifies: current members who joined before
/// it, but its sender, in byte order after `after`. Marks them as maybe notified.
public struct NotificationRecipients: ShardOperation {
    public static let code = OperationCode.notificationRecipients
    public var conversationID: String
    public var seq: Int64
    public var sender: String
    public var after: String
    public var limit: Int
    public init(conversationID: String, seq: Int64, sender: String, after: String, limit: Int) {
        self.conversationID = conversationID
        self.seq = seq
        self.sender = sender
        self.after = after
        self.limit = limit
    }
    public var key: ShardKey { .conversation(conversationID) }
    public func encode(_ w: inout WireWriter) {
        w.writeString(conversationID); w.writeInt(seq); w.writeString(sender); w.writeString(after); w.writeU32(UInt32(clamping: limit))
    }
    public init(from r: inout WireReader) throws {
        self.init(conversationID: try r.readText(), seq: try r.readInt(), sender: try r.readText(), after: try r.readText(),
                  limit: Int(try r.readU32()))
    }
    public static func encode(reply: [String], _ w: inout WireWriter) { w.writeStrings(reply) }
    public static func decodeReply(_ r: inout WireReader) throws -> [String] { try r.readStrings() }

    public func run(in context: ShardContext) throws -> [String] {
        let limit = max(1, min(limit, 1_000))
        let page = try context.store.notificationRecipients(conversationID: conversationID, seq: seq, sender: sender,
                                                            after: after, limit: limit)
        for user in page { try context.store.markNotified(conversationID: conversationID, user: user, seq: seq) }
        return page
    }
}

// MARK: The recipient's side

/// Adds one notification to the user's in-app list, once per (conversation, seq); nothing
/// for a muted conversation, a blocked sender, or a seq the user's read receipt covered.
/// Answers whether the list holds it now.
public struct AddNotification: ShardOperation {
    public static let code = OperationCode.addNotification
    public var user: String
    public var conversationID: String
    public var seq: Int64
    public var sender: String
    public var preview: String
    public var ts: Int64
    public init(user: String, conversationID: String, seq: Int64, sender: String, preview: String, ts: Int64) {
        self.user = user
        self.conversationID = conversationID
        self.seq = seq
        self.sender = sender
        self.preview = preview
        self.ts = ts
    }
    public var key: ShardKey { .user(user) }
    public func encode(_ w: inout WireWriter) {
        w.writeString(user); w.writeString(conversationID); w.writeInt(seq); w.writeString(sender); w.writeString(preview); w.writeInt(ts)
    }
    public init(from r: inout WireReader) throws {
        self.init(user: try r.readText(), conversationID: try r.readText(), seq: try r.readInt(), sender: try r.readText(),
                  preview: try r.readText(), ts: try r.readInt())
    }
    public static func encode(reply: Bool, _ w: inout WireWriter) { w.writeBool(reply) }
    public static func decodeReply(_ r: inout WireReader) throws -> Bool { try r.readBool() }

    public func run(in context: ShardContext) throws -> Bool {
        let store = context.store
        let prefs = try store.conversationPrefs(user: user, conversationID: conversationID)
        if prefs.muted || seq <= prefs.clearedSeq { return false }
        if try store.block(user: user, blocked: sender)?.active == true { return false }
        if try store.hasNotification(user: user, conversationID: conversationID, seq: seq) { return true }
        let id = try store.nextNotificationID(user: user)
        let n = ChatNotification(id: id, conversationID: conversationID, seq: seq, sender: sender, preview: preview, ts: ts)
        try store.insertNotification(user: user, n)
        if context.pushesNotifications {
            let job = PushNotificationJob(PushedNotification(recipient: user, notification: n, createdAt: context.now))
            try context.enqueue(job, id: job.id, origin: key)
        }
        return true
    }
}

/// The user's notifications with an id above `after`, oldest first.
public struct NotificationList: ShardOperation {
    public static let code = OperationCode.notificationList
    public var user: String
    public var after: Int64
    public var limit: Int
    public init(user: String, after: Int64, limit: Int) {
        self.user = user
        self.after = after
        self.limit = limit
    }
    public var key: ShardKey { .user(user) }
    public func encode(_ w: inout WireWriter) { w.writeString(user); w.writeInt(after); w.writeU32(UInt32(clamping: limit)) }
    public init(from r: inout WireReader) throws { self.init(user: try r.readText(), after: try r.readInt(), limit: Int(try r.readU32())) }
    public static func encode(reply: [ChatNotification], _ w: inout WireWriter) { w.writeList(reply) { n, w in w.write(n) } }
    public static func decodeReply(_ r: inout WireReader) throws -> [ChatNotification] {
        try r.readList(minBytes: 36) { try $0.readNotification() }
    }
    public func run(in context: ShardContext) throws -> [ChatNotification] {
        try context.store.notifications(user: user, after: after, limit: max(1, min(limit, NotificationLimits.maxPage)))
    }
}

/// A read receipt's effect on the user's shard: the notifications of the conversation up to
/// `read` go, and repeats of them are kept out.
public struct ClearNotifications: ShardOperation {
    public static let code = OperationCode.clearNotifications
    public var user: String
    public var conversationID: String
    public var read: Int64
    public init(user: String, conversationID: String, read: Int64) {
        self.user = user
        self.conversationID = conversationID
        self.read = read
    }
    public var key: ShardKey { .user(user) }
    public func encode(_ w: inout WireWriter) { w.writeString(user); w.writeString(conversationID); w.writeInt(read) }
    public init(from r: inout WireReader) throws { self.init(user: try r.readText(), conversationID: try r.readText(), read: try r.readInt()) }
    public static func encode(reply: Done, _ w: inout WireWriter) {}
    public static func decodeReply(_ r: inout WireReader) throws -> Done { Done() }
    public func run(in context: ShardContext) throws -> Done {
        try context.store.clearNotifications(user: user, conversationID: conversationID, upTo: read)
        return Done()
    }
}

/// The job `SetCursors` records when a read receipt covers a seq the user may have been
/// notified of.
public struct ClearNotificationsJob: OutboxJob {
    public static let kind = JobKind.clearNotifications
    public var user: String
    public var conversationID: String
    public var read: Int64
    public init(user: String, conversationID: String, read: Int64) {
        self.user = user
        self.conversationID = conversationID
        self.read = read
    }
    public var id: String { "notifclear:\(conversationID):\(user):\(read)" }
    public init(payload: [UInt8]) throws {
        var r = WireReader(payload)
        self.init(user: try r.readText(), conversationID: try r.readText(), read: try r.readInt())
    }
    public var payload: [UInt8] {
        var w = WireWriter()
        w.writeString(user); w.writeString(conversationID); w.writeInt(read)
        return w.bytes
    }
    public func step(progress: [UInt8]?, context: JobContext, done: @escaping (JobStep) -> Void) {
        context.router.call(ClearNotifications(user: user, conversationID: conversationID, read: read)) { result in
            if case .failure(let error) = result { return done(.failed(error)) }
            done(.finished)
        }
    }

    /// Called by `SetCursors` when `read` moved from `oldRead`.
    static func enqueueIfNotified(user: String, conversationID: String, oldRead: Int64, read: Int64, context: ShardContext) throws {
        guard read > oldRead, let mark = try context.store.notifiedSeq(conversationID: conversationID, user: user), mark > oldRead
        else { return }
        if mark <= read { try context.store.unmarkNotified(conversationID: conversationID, user: user) }
        let job = ClearNotificationsJob(user: user, conversationID: conversationID, read: read)
        try context.enqueue(job, id: job.id, origin: .conversation(conversationID))
    }
}

/// Mutes or unmutes a conversation's notifications for the user (idempotent). Only a
/// conversation in the user's list may be muted: any other is `forbidden`, as for reads.
public struct SetMute: ShardOperation {
    public static let code = OperationCode.setMute
    public var user: String
    public var conversationID: String
    public var muted: Bool
    public init(user: String, conversationID: String, muted: Bool) {
        self.user = user
        self.conversationID = conversationID
        self.muted = muted
    }
    public var key: ShardKey { .user(user) }
    public func encode(_ w: inout WireWriter) { w.writeString(user); w.writeString(conversationID); w.writeBool(muted) }
    public init(from r: inout WireReader) throws { self.init(user: try r.readText(), conversationID: try r.readText(), muted: try r.readBool()) }
    public static func encode(reply: Done, _ w: inout WireWriter) {}
    public static func decodeReply(_ r: inout WireReader) throws -> Done { Done() }
    public func run(in context: ShardContext) throws -> Done {
        guard try context.store.isIndexed(user: user, conversationID: conversationID) else {
            throw ShardService.notMember(conversationID)
        }
        try context.store.setMuted(user: user, conversationID: conversationID, muted: muted)
        return Done()
    }
}

// MARK: The push gateway

/// Posts one notification to the push gateway, on the recipient's shard: retried (the
/// runner's backoff, 200 ms doubling to 30 s) until the gateway takes it or
/// the hook's `maxAgeMs` passed. At least once: a step that ran before a
/// failover runs again, and the gateway's receiver drops repeats by `key`.
public struct PushNotificationJob: OutboxJob {
    public static let kind = JobKind.pushNotification
    public var pushed: PushedNotification
    public init(_ pushed: PushedNotification) { self.pushed = pushed }
    public var id: String { "push:" + pushed.key }
    public init(payload: [UInt8]) throws {
        var r = WireReader(payload)
        let user = try r.readText(), n = try r.readNotification(), at = try r.readInt()
        self.init(PushedNotification(recipient: user, notification: n, createdAt: at))
    }
    public var payload: [UInt8] {
        var w = WireWriter()
        w.writeString(pushed.recipient); w.write(pushed.notification); w.writeInt(pushed.createdAt)
        return w.bytes
    }
    public func step(progress: [UInt8]?, context: JobContext, done: @escaping (JobStep) -> Void) {
        guard let hook = context.hook else { return done(.finished) }
        if context.now - pushed.createdAt > hook.maxAgeMs { return done(.finished) }
        hook.deliver(pushed) { result in
            switch result {
            case .success: done(.finished)
            case .failure(let error): done(.failed(error))
            }
        }
    }
}
