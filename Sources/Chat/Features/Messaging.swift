import Hashing
import Store
import Wire

// Messages, on the conversation's shard: the sequencer (membership, idempotency, the next
// seq), history pages, typing. The front's side is in ChatService+Messaging.swift.

/// Which live connection a request came from, so the sender's own connection gets only the
/// ack of its message while the sender's other devices get the message.
public struct ConnectionRef: Sendable, Hashable {
    public var node: String
    public var id: UInt64
    public init(node: String, id: UInt64) { self.node = node; self.id = id }
}

public struct NewMessage: Sendable, Equatable {
    public var conversationID: String
    public var sender: String
    public var clientID: String
    public var kind: MessageKind
    public var body: String
    public var attachments: [String]
    public var tip: Tip?
    public var origin: ConnectionRef?
    /// An image's size, when the client gave it (docs/ASSETS.md).
    public var width: Int64? = nil
    public var height: Int64? = nil

    public init(conversationID: String, sender: String, clientID: String, kind: MessageKind, body: String,
                attachments: [String], tip: Tip?, origin: ConnectionRef?) {
        self.conversationID = conversationID
        self.sender = sender
        self.clientID = clientID
        self.kind = kind
        self.body = body
        self.attachments = attachments
        self.tip = tip
        self.origin = origin
    }
}

public struct Ack: Sendable, Equatable {
    public var clientID: String
    public var conversationID: String
    public var seq: Int64
    public var messageID: String
    public var ts: Int64
}

/// A history page: `after` and `before` are exclusive seq bounds (PROTOCOL.md history).
public struct HistoryQuery: Sendable, Equatable {
    public var after: Int64?
    public var before: Int64?
    public var limit: Int
    public init(after: Int64? = nil, before: Int64? = nil, limit: Int) {
        self.after = after
        self.before = before
        self.limit = limit
    }
}

/// The conversation's sequencer: a member's message gets the next seq, exactly once per
/// (sender, client_id).
public struct SendMessage: ShardOperation {
    public static let code = OperationCode.send
    public var message: NewMessage
    public init(_ message: NewMessage) { self.message = message }
    public var key: ShardKey { .conversation(message.conversationID) }

    public func encode(_ w: inout WireWriter) {
        let m = message
        w.writeString(m.conversationID); w.writeString(m.sender); w.writeString(m.clientID); w.writeString(m.kind.rawValue)
        w.writeString(m.body); w.writeStrings(m.attachments); w.write(m.tip)
        if let origin = m.origin { w.writeU8(1); w.writeString(origin.node); w.writeU64(origin.id) } else { w.writeU8(0) }
        w.writeOptionalInt(m.width); w.writeOptionalInt(m.height)
    }
    public init(from r: inout WireReader) throws {
        let id = try r.readText(), sender = try r.readText(), clientID = try r.readText()
        guard let kind = MessageKind(rawValue: try r.readText()) else { throw ShardCodecError("unknown message kind") }
        let body = try r.readText(), attachments = try r.readStrings(), tip = try r.readTip()
        let origin: ConnectionRef? = try r.readU8() == 1 ? ConnectionRef(node: try r.readText(), id: try r.readU64()) : nil
        message = NewMessage(conversationID: id, sender: sender, clientID: clientID, kind: kind, body: body,
                             attachments: attachments, tip: tip, origin: origin)
        message.width = try r.readOptionalInt()
        message.height = try r.readOptionalInt()
    }
    public static func encode(reply a: Ack, _ w: inout WireWriter) {
        w.writeString(a.clientID); w.writeString(a.conversationID); w.writeInt(a.seq); w.writeString(a.messageID); w.writeInt(a.ts)
    }
    public static func decodeReply(_ r: inout WireReader) throws -> Ack {
        Ack(clientID: try r.readText(), conversationID: try r.readText(), seq: try r.readInt(), messageID: try r.readText(),
            ts: try r.readInt())
    }

    public func run(in context: ShardContext) throws -> Ack {
        let m = message, store = context.store
        guard let conversation = try store.conversation(m.conversationID) else {
            throw ChatError(.notFound, "no conversation \(m.conversationID)")
        }
        guard let member = try store.member(conversationID: m.conversationID, user: m.sender), member.leftSeq == nil else {
            throw ShardService.notMember(m.conversationID)
        }
        // Idempotent on (sender, client_id): a repeat gets the first ack and stores nothing
        // (its reply still waits until the first one is committed and replicated).
        if let first = try store.message(conversationID: m.conversationID, sender: m.sender, clientID: m.clientID) {
            return Ack(clientID: first.clientID, conversationID: first.conversationID, seq: first.seq,
                       messageID: first.messageID, ts: first.ts)
        }
        var stored = StoredMessage(
            conversationID: m.conversationID, seq: conversation.lastSeq + 1, messageID: context.newID("m_"), sender: m.sender,
            clientID: m.clientID, ts: max(context.now, conversation.lastTs), kind: m.kind.rawValue, body: m.body,
            attachments: m.attachments, tip: m.tip)
        stored.width = m.width
        stored.height = m.height
        // Blocking (Blocks.swift): hidden from a member who blocks the sender, logged for them.
        let hiddenFor = try store.directBlocker(of: m.sender, in: conversation)
        try store.insertMessage(stored, hiddenFor: hiddenFor)
        try store.setLastSeq(conversationID: m.conversationID, seq: stored.seq, ts: stored.ts)
        let recipients = try store.currentMemberIDs(conversationID: m.conversationID).filter { $0 != hiddenFor }
        context.push(EventJSON.messageEvent(stored), to: recipients, except: m.origin)
        if !stored.attachments.isEmpty {
            // Assets (Assets.swift): the carried assets become readable by this chat's readers.
            let job = RecordAssetRefs(conversationID: stored.conversationID, seq: stored.seq, assets: stored.attachments)
            try context.enqueue(job, id: job.id, origin: key)
        }
        try NotifyMembers.enqueueIfOffline(stored, kind: m.kind, recipients: recipients, context: context)   // Notifications.swift
        if let hiddenFor {
            let job = LogBlockedAttempt(blocker: hiddenFor, entry: ModerationEntry(
                sender: m.sender, conversationID: m.conversationID, seq: stored.seq, ts: stored.ts, preview: ModerationEntry.preview(of: m.body, kind: m.kind)))
            try context.enqueue(job, id: job.id, origin: key)
        }
        return Ack(clientID: stored.clientID, conversationID: stored.conversationID, seq: stored.seq,
                   messageID: stored.messageID, ts: stored.ts)
    }
}

/// A page of a conversation's messages that the reader may see.
public struct History: ShardOperation {
    public static let code = OperationCode.history
    public struct Page: Sendable, Equatable {
        public var messages: [StoredMessage]
        public var hasMore: Bool
    }
    public var conversationID: String
    public var reader: String
    public var query: HistoryQuery
    public init(conversationID: String, reader: String, query: HistoryQuery) {
        self.conversationID = conversationID
        self.reader = reader
        self.query = query
    }
    public var key: ShardKey { .conversation(conversationID) }

    public func encode(_ w: inout WireWriter) {
        w.writeString(conversationID); w.writeString(reader); w.writeOptionalInt(query.after); w.writeOptionalInt(query.before)
        w.writeU32(UInt32(clamping: query.limit))
    }
    public init(from r: inout WireReader) throws {
        let id = try r.readText(), reader = try r.readText(), after = try r.readOptionalInt(), before = try r.readOptionalInt()
        self.init(conversationID: id, reader: reader, query: HistoryQuery(after: after, before: before, limit: Int(try r.readU32())))
    }
    public static func encode(reply: Page, _ w: inout WireWriter) {
        w.writeBool(reply.hasMore)
        w.writeList(reply.messages) { m, w in w.write(m) }
    }
    public static func decodeReply(_ r: inout WireReader) throws -> Page {
        let hasMore = try r.readBool()
        return Page(messages: try r.readList(minBytes: 60) { try $0.readMessage() }, hasMore: hasMore)
    }

    public func run(in context: ShardContext) throws -> Page {
        let store = context.store
        guard let conversation = try store.conversation(conversationID),
              let member = try store.member(conversationID: conversationID, user: reader) else {
            throw ShardService.notMember(conversationID)
        }
        let limit = max(1, min(query.limit, ShardService.maxPageSize))
        // The member's window: from the first visible seq to the removal, if any.
        let floor = member.firstVisibleSeq(historyVisible: conversation.historyVisible) - 1
        let ceiling = (member.leftSeq ?? conversation.lastSeq) + 1
        let after = max(query.after ?? 0, floor)
        let before = min(query.before ?? .max, ceiling)
        // With `after` alone (or both), the page reads forward from it; otherwise it is the
        // newest `limit` below `before`. One extra row tells `has_more`.
        let forward = query.after != nil
        let rows = try store.messages(conversationID: conversationID, reader: reader, after: after, before: before,
                                      limit: limit + 1, newest: !forward)
        let hasMore = rows.count > limit
        let page = hasMore ? (forward ? Array(rows.prefix(limit)) : Array(rows.suffix(limit))) : rows
        return Page(messages: page, hasMore: hasMore)
    }
}

/// A member is typing: the other members online see it, at most once a second per member
/// and conversation; nothing is stored.
public struct Typing: ShardOperation {
    public static let code = OperationCode.typing
    public var conversationID: String
    public var user: String
    public init(conversationID: String, user: String) {
        self.conversationID = conversationID
        self.user = user
    }
    public var key: ShardKey { .conversation(conversationID) }
    public func encode(_ w: inout WireWriter) { w.writeString(conversationID); w.writeString(user) }
    public init(from r: inout WireReader) throws { self.init(conversationID: try r.readText(), user: try r.readText()) }
    public static func encode(reply: Done, _ w: inout WireWriter) {}
    public static func decodeReply(_ r: inout WireReader) throws -> Done { Done() }

    public func run(in context: ShardContext) throws -> Done {
        guard let member = try context.store.member(conversationID: conversationID, user: user), member.leftSeq == nil else {
            throw ShardService.notMember(conversationID)
        }
        // Rate-limited per user and conversation (TypingLimit.swift); extra ones vanish silently.
        guard context.typing.allow(user: user, conversationID: conversationID, now: context.now) else { return Done() }
        let blocker = try context.store.directBlocker(of: user, inConversation: conversationID)   // Blocks.swift
        let others = try context.store.currentMemberIDs(conversationID: conversationID).filter { $0 != user && $0 != blocker }
        context.push(EventJSON.typingEvent(conversationID: conversationID, user: user), to: others)
        return Done()
    }
}
