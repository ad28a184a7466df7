import Store

/// A request served by the primary of one shard. The front of a node (whichever node the
/// client is connected to) turns each client request into these and sends them through a
/// `ShardRouter`: to the local `ShardService` when this node leads the shard, over the peer
/// protocol otherwise. Keep every case a plain value so it can cross the wire.
public enum ShardRequest: Sendable, Equatable {
    // On a user's shard.
    case createUser(user: String, passwordHash: String, displayName: String, session: NewSession)
    case passwordHash(user: String)
    case createSession(NewSession)
    case session(user: String, tokenHash: [UInt8])
    case deleteSession(user: String, tokenHash: [UInt8])
    case userExists(user: String)
    case addToIndex(user: String, conversationID: String)
    case conversationIndex(user: String)
    // On a conversation's shard.
    case openDirect(conversationID: String)
    /// Whether the conversation exists (a direct chat already opened needs nothing else).
    case conversationExists(conversationID: String)
    case send(NewMessage)
    case messages(conversationID: String, reader: String, query: HistoryQuery)
    case setCursors(conversationID: String, user: String, delivered: Int64?, read: Int64?)
    case summaries(user: String, conversationIDs: [String])
    case typing(conversationID: String, user: String)

    /// The key whose shard serves the request.
    public var key: String {
        switch self {
        case .createUser(let user, _, _, _), .passwordHash(let user), .session(let user, _),
             .deleteSession(let user, _), .userExists(let user), .addToIndex(let user, _), .conversationIndex(let user):
            return "user:" + user
        case .createSession(let session):
            return "user:" + session.user
        case .openDirect(let id), .conversationExists(let id), .messages(let id, _, _), .setCursors(let id, _, _, _), .typing(let id, _):
            return "conv:" + id
        case .send(let message):
            return "conv:" + message.conversationID
        case .summaries(_, let ids):
            return "conv:" + (ids.first ?? "")
        }
    }
}

public enum ShardReply: Sendable, Equatable {
    case done
    case flag(Bool)
    case passwordHash(String?)
    case session(SessionRecord?)
    case index([String])
    case ack(Ack)
    case page(messages: [StoredMessage], hasMore: Bool)
    case cursors(delivered: Int64, read: Int64)
    case summaries([ConversationSummary])
}

/// A session to store: the token's hash, never the token.
public struct NewSession: Sendable, Equatable {
    public var user: String
    public var device: String
    public var tokenHash: [UInt8]
    public var expiresAt: Int64
}

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
    public var kind: String
    public var body: String
    public var attachments: [String]
    public var tip: Tip?
    public var origin: ConnectionRef?
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
