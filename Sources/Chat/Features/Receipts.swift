import Store
import Wire

// Delivered and read cursors, on the conversation's shard, and the receipt events they cause
// (PROTOCOL.md "receipt"). The front's side is `ChatService.receipt`.

/// Moves a member's cursors forward (never back, never past the last message; reading
/// implies delivery); answers the cursors as they stand.
public struct SetCursors: ShardOperation {
    public static let code = OperationCode.setCursors
    public struct Cursors: Sendable, Equatable {
        public var delivered: Int64
        public var read: Int64
    }
    public var conversationID: String
    public var user: String
    public var delivered: Int64?
    public var read: Int64?
    public init(conversationID: String, user: String, delivered: Int64?, read: Int64?) {
        self.conversationID = conversationID
        self.user = user
        self.delivered = delivered
        self.read = read
    }
    public var key: ShardKey { .conversation(conversationID) }
    public func encode(_ w: inout WireWriter) {
        w.writeString(conversationID); w.writeString(user); w.writeOptionalInt(delivered); w.writeOptionalInt(read)
    }
    public init(from r: inout WireReader) throws {
        self.init(conversationID: try r.readText(), user: try r.readText(), delivered: try r.readOptionalInt(), read: try r.readOptionalInt())
    }
    public static func encode(reply: Cursors, _ w: inout WireWriter) { w.writeInt(reply.delivered); w.writeInt(reply.read) }
    public static func decodeReply(_ r: inout WireReader) throws -> Cursors { Cursors(delivered: try r.readInt(), read: try r.readInt()) }

    public func run(in context: ShardContext) throws -> Cursors {
        let store = context.store
        guard let conversation = try store.conversation(conversationID),
              let member = try store.member(conversationID: conversationID, user: user) else {
            throw ShardService.notMember(conversationID)
        }
        let top = member.leftSeq ?? conversation.lastSeq
        let newRead = min(max(member.read, read ?? 0), top)
        let newDelivered = min(max(member.delivered, delivered ?? 0, newRead), top)
        guard newRead != member.read || newDelivered != member.delivered else {
            return Cursors(delivered: member.delivered, read: member.read)
        }
        try store.setCursors(conversationID: conversationID, user: user, delivered: newDelivered, read: newRead)
        // Who sees it: the user's own devices; in a direct chat the other member; in a group
        // only the senders whose messages the new cursors newly cover.
        var recipients: Set<String> = [user]
        if conversation.kind == ConversationKind.direct.rawValue {
            for other in try store.members(conversationID: conversationID) { recipients.insert(other.user) }
        } else {
            let from = min(member.read, member.delivered)
            for sender in try store.senders(conversationID: conversationID, after: from, upTo: max(newRead, newDelivered))
            where try store.member(conversationID: conversationID, user: sender)?.leftSeq == nil {
                recipients.insert(sender)   // a member who left gets nothing of the group any more
            }
        }
        context.announceReceipt(conversationID: conversationID, user: user, recipients: recipients,
                                delivered: newDelivered, read: newRead)
        return Cursors(delivered: newDelivered, read: newRead)
    }
}
