/// A message as stored: what every read returns (PROTOCOL.md "Messages").
public struct StoredMessage: Sendable, Equatable {
    public var conversationID: String
    public var seq: Int64
    public var messageID: String
    public var sender: String
    public var clientID: String
    public var ts: Int64
    public var kind: String
    public var body: String
    public var attachments: [String]
    public var tip: Tip?
    /// An image's size in pixels, when its sender gave it (docs/ASSETS.md).
    public var width: Int64? = nil
    public var height: Int64? = nil

    public init(conversationID: String, seq: Int64, messageID: String, sender: String, clientID: String,
                ts: Int64, kind: String, body: String, attachments: [String] = [], tip: Tip? = nil) {
        self.conversationID = conversationID
        self.seq = seq
        self.messageID = messageID
        self.sender = sender
        self.clientID = clientID
        self.ts = ts
        self.kind = kind
        self.body = body
        self.attachments = attachments
        self.tip = tip
    }
}

public struct Tip: Sendable, Equatable {
    public var amountCents: Int64
    public var currency: String
    public init(amountCents: Int64, currency: String) { self.amountCents = amountCents; self.currency = currency }
}

public struct ConversationRecord: Sendable, Equatable {
    public var id: String
    public var kind: String          // "direct" or "group"
    public var title: String
    public var lastSeq: Int64
    public var historyVisible: Bool
    public var createdAt: Int64
    /// `ts` of the newest message: the conversations list sorts by it.
    public var lastTs: Int64
}

public struct MemberRecord: Sendable, Equatable {
    public var conversationID: String
    public var user: String
    public var role: String
    public var joinedSeq: Int64
    public var leftSeq: Int64?
    public var delivered: Int64
    public var read: Int64
    public init(conversationID: String, user: String, role: String, joinedSeq: Int64, leftSeq: Int64?, delivered: Int64, read: Int64) {
        self.conversationID = conversationID
        self.user = user
        self.role = role
        self.joinedSeq = joinedSeq
        self.leftSeq = leftSeq
        self.delivered = delivered
        self.read = read
    }
    /// The first seq this member may read: 1, or above `joinedSeq` without visible history.
    public func firstVisibleSeq(historyVisible: Bool) -> Int64 { historyVisible ? 1 : joinedSeq + 1 }
}

public struct SessionRecord: Sendable, Equatable {
    public var user: String
    public var device: String
    public var expiresAt: Int64
    public init(user: String, device: String, expiresAt: Int64) {
        self.user = user
        self.device = device
        self.expiresAt = expiresAt
    }
}

public struct UserRecord: Sendable, Equatable {
    public var id: String
    public var displayName: String
    public var about: String
    public var avatar: String
    public var lastSeenVisibility: String
    public var lastSeen: Int64
    public var createdAt: Int64
}
