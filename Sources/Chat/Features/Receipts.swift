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
    /// The device the receipt came from: its own delivered cursor moves too (Devices.swift).
    public var device: String?
    public init(conversationID: String, user: String, delivered: Int64?, read: Int64?, device: String? = nil) {
        self.conversationID = conversationID
        self.user = user
        self.delivered = delivered
        self.read = read
        self.device = device
    }
    public var key: ShardKey { .conversation(conversationID) }
    public func encode(_ w: inout WireWriter) {
        w.writeString(conversationID); w.writeString(user); w.writeOptionalInt(delivered); w.writeOptionalInt(read)
        if let device { w.writeString(device) }   // a trailing field: older encodings have none
    }
    public init(from r: inout WireReader) throws {
        self.init(conversationID: try r.readText(), user: try r.readText(), delivered: try r.readOptionalInt(), read: try r.readOptionalInt())
        if !r.isAtEnd { device = try r.readText() }
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
        if let device {
            // The device's own cursor: what it received, whatever the user's other devices did.
            let old = try store.deviceCursor(conversationID: conversationID, user: user, device: device)
            let moved = min(max(old ?? 0, delivered ?? 0, read ?? 0), top)
            if old == nil || moved > old! {
                try store.setDeviceCursor(conversationID: conversationID, user: user, device: device, delivered: moved)
            }
        }
        guard newRead != member.read || newDelivered != member.delivered else {
            return Cursors(delivered: member.delivered, read: member.read)
        }
        try store.setCursors(conversationID: conversationID, user: user, delivered: newDelivered, read: newRead)
        try ClearNotificationsJob.enqueueIfNotified(user: user, conversationID: conversationID, oldRead: member.read, read: newRead,
                                                    context: context)   // Notifications.swift
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
