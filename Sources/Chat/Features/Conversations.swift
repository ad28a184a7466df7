import Store
import Wire

// Conversations as lists and direct chats: each user's conversation index (on the user's
// shard), opening a direct chat (on the conversation's shard, then both indexes through the
// outbox), and the summaries the conversation list and `hello` show. The front's side is in
// ChatService+Conversations.swift.

public struct ConversationSummary: Sendable, Equatable {
    public var conversationID: String
    public var kind: String
    public var title: String
    public var lastSeq: Int64
    public var lastTs: Int64
    public var delivered: Int64
    public var read: Int64
    public var unread: Int64
}

/// Lists a conversation in a user's index (idempotent).
public struct AddToIndex: ShardOperation {
    public static let code = OperationCode.addToIndex
    public var user: String
    public var conversationID: String
    public init(user: String, conversationID: String) {
        self.user = user
        self.conversationID = conversationID
    }
    public var key: ShardKey { .user(user) }
    public func encode(_ w: inout WireWriter) { w.writeString(user); w.writeString(conversationID) }
    public init(from r: inout WireReader) throws { self.init(user: try r.readText(), conversationID: try r.readText()) }
    public static func encode(reply: Done, _ w: inout WireWriter) {}
    public static func decodeReply(_ r: inout WireReader) throws -> Done { Done() }
    public func run(in context: ShardContext) throws -> Done {
        try context.store.addToIndex(user: user, conversationID: conversationID, now: context.now)
        return Done()
    }
}

/// The conversations a user is in (ids, in byte order).
public struct ConversationIndex: ShardOperation {
    public static let code = OperationCode.conversationIndex
    public var user: String
    public init(user: String) { self.user = user }
    public var key: ShardKey { .user(user) }
    public func encode(_ w: inout WireWriter) { w.writeString(user) }
    public init(from r: inout WireReader) throws { user = try r.readText() }
    public static func encode(reply: [String], _ w: inout WireWriter) { w.writeStrings(reply) }
    public static func decodeReply(_ r: inout WireReader) throws -> [String] { try r.readStrings() }
    public func run(in context: ShardContext) throws -> [String] { try context.store.conversationIDs(user: user) }
}

/// Whether the conversation exists (a direct chat already opened needs nothing else).
public struct ConversationExists: ShardOperation {
    public static let code = OperationCode.conversationExists
    public var conversationID: String
    public init(conversationID: String) { self.conversationID = conversationID }
    public var key: ShardKey { .conversation(conversationID) }
    public func encode(_ w: inout WireWriter) { w.writeString(conversationID) }
    public init(from r: inout WireReader) throws { conversationID = try r.readText() }
    public static func encode(reply: Bool, _ w: inout WireWriter) { w.writeBool(reply) }
    public static func decodeReply(_ r: inout WireReader) throws -> Bool { try r.readBool() }
    public func run(in context: ShardContext) throws -> Bool { try context.store.conversation(conversationID) != nil }
}

/// Makes a direct chat: the conversation and its two members, and (through the outbox) the
/// chat in both users' indexes. Answers once both indexes list it; if that fails, the job
/// stays in the outbox and the shard's primary finishes it later (a retry waits for it).
public struct OpenDirect: ShardOperation {
    public static let code = OperationCode.openDirect
    public var conversationID: String
    public init(conversationID: String) { self.conversationID = conversationID }
    public var key: ShardKey { .conversation(conversationID) }
    public func encode(_ w: inout WireWriter) { w.writeString(conversationID) }
    public init(from r: inout WireReader) throws { conversationID = try r.readText() }
    public static func encode(reply: Done, _ w: inout WireWriter) {}
    public static func decodeReply(_ r: inout WireReader) throws -> Done { Done() }

    public func run(in context: ShardContext) throws -> Done {
        guard let (a, b) = Identifiers.directMembers(conversationID) else { throw ChatError.badRequest("not a direct conversation id") }
        let store = context.store, job = IndexDirectChat(conversationID: conversationID)
        if try store.insertConversation(id: conversationID, kind: ConversationKind.direct.rawValue, title: "", historyVisible: true,
                                        now: context.now) {
            for user in Set([a, b]).sorted() {
                try store.insertMember(conversationID: conversationID, user: user, role: MemberRole.member.rawValue, joinedSeq: 0)
            }
            try context.enqueue(job, id: job.id, origin: key, replyWhenDone: true)
        } else if try store.job(job.id) != nil {
            context.awaitJob(id: job.id)   // opened before, its indexes not yet both written
        }
        return Done()
    }
}

/// The outbox job of `OpenDirect`: the chat in both users' indexes (two idempotent writes).
public struct IndexDirectChat: OutboxJob {
    public static let kind = JobKind.indexDirectChat
    public var conversationID: String
    public init(conversationID: String) { self.conversationID = conversationID }
    public var id: String { "index:" + conversationID }
    public init(payload: [UInt8]) throws { conversationID = String(decoding: payload, as: UTF8.self) }
    public var payload: [UInt8] { Array(conversationID.utf8) }

    public func step(progress: [UInt8]?, context: JobContext, done: @escaping (JobStep) -> Void) {
        guard let (a, b) = Identifiers.directMembers(conversationID) else { return done(.finished) }
        let users = Set([a, b]).sorted()
        var failure: ChatError?
        var remaining = users.count
        for user in users {
            context.router.call(AddToIndex(user: user, conversationID: conversationID)) { result in
                if case .failure(let error) = result { failure = failure ?? error }
                remaining -= 1
                if remaining == 0 { done(failure.map { .failed($0) } ?? .finished) }
            }
        }
    }
}

/// The rows of the conversation list for one user: the conversations of this shard among
/// `conversationIDs` that the user is in, with cursors and unread counts.
public struct Summaries: ShardOperation {
    public static let code = OperationCode.summaries
    public var user: String
    public var conversationIDs: [String]
    /// For a device's connect backlog: `delivered` is that device's cursor (Devices.swift),
    /// given when the device was first seen.
    public var device: String?
    public var deviceFirstSeen: Int64
    public init(user: String, conversationIDs: [String], device: String? = nil, deviceFirstSeen: Int64 = 0) {
        self.user = user
        self.conversationIDs = conversationIDs
        self.device = device
        self.deviceFirstSeen = deviceFirstSeen
    }
    /// All the ids are on one shard (the front groups them so): the first picks it.
    public var key: ShardKey { .conversation(conversationIDs.first ?? "") }
    public func encode(_ w: inout WireWriter) {
        w.writeString(user); w.writeStrings(conversationIDs)
        if let device { w.writeString(device); w.writeInt(deviceFirstSeen) }   // trailing: older encodings have none
    }
    public init(from r: inout WireReader) throws {
        self.init(user: try r.readText(), conversationIDs: try r.readStrings())
        if !r.isAtEnd { device = try r.readText(); deviceFirstSeen = try r.readInt() }
    }
    public static func encode(reply: [ConversationSummary], _ w: inout WireWriter) {
        w.writeList(reply) { s, w in
            w.writeString(s.conversationID); w.writeString(s.kind); w.writeString(s.title)
            w.writeInt(s.lastSeq); w.writeInt(s.lastTs); w.writeInt(s.delivered); w.writeInt(s.read); w.writeInt(s.unread)
        }
    }
    public static func decodeReply(_ r: inout WireReader) throws -> [ConversationSummary] {
        try r.readList(minBytes: 52) { r in
            ConversationSummary(conversationID: try r.readText(), kind: try r.readText(), title: try r.readText(),
                                lastSeq: try r.readInt(), lastTs: try r.readInt(), delivered: try r.readInt(),
                                read: try r.readInt(), unread: try r.readInt())
        }
    }

    public func run(in context: ShardContext) throws -> [ConversationSummary] {
        let store = context.store
        var out: [ConversationSummary] = []
        for id in conversationIDs {
            guard let conversation = try store.conversation(id),
                  let member = try store.member(conversationID: id, user: user) else { continue }
            let visibleUpTo = min(conversation.lastSeq, member.leftSeq ?? .max)
            let delivered = try device.map {
                try store.deviceDelivered(conversation: conversation, member: member, device: $0, firstSeen: deviceFirstSeen)
            } ?? member.delivered
            let unread = try store.unreadCount(conversationID: id, reader: user, after: max(member.read, member.joinedSeq),
                                               upTo: visibleUpTo)
            out.append(ConversationSummary(
                conversationID: id, kind: conversation.kind, title: Self.title(conversation, for: user),
                lastSeq: visibleUpTo, lastTs: conversation.lastTs, delivered: delivered, read: member.read, unread: unread))
        }
        return out
    }

    /// A direct chat is titled with the other member's id; a group with its title.
    static func title(_ conversation: ConversationRecord, for user: String) -> String {
        guard conversation.kind == ConversationKind.direct.rawValue,
              let (a, b) = Identifiers.directMembers(conversation.id) else { return conversation.title }
        return a == user ? b : a
    }
}
