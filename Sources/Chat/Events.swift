import JSON
import Store

/// What a live connection is pushed. `text` is the event's JSON, made once and written to
/// every recipient's connections.
public struct OutboundEvent: Sendable {
    public enum Kind: Sendable, Equatable {
        case message(conversationID: String, seq: Int64)
        case receipt
        case typing
        case presence
    }
    public let kind: Kind
    public let text: String
    public init(kind: Kind, text: String) { self.kind = kind; self.text = text }
}

/// Delivers events to users' live connections, wherever they are connected.
public protocol EventSink: AnyObject {
    /// Pushes to every live connection of each user, except the one `except` names.
    func push(_ event: OutboundEvent, to users: [String], except: ConnectionRef?)
}

/// The JSON shapes of PROTOCOL.md, built in one place.
public enum EventJSON {
    public static func message(_ m: StoredMessage) -> JSONObject {
        var o = JSONObject()
        o["conversation_id"] = .string(m.conversationID)
        o["seq"] = .int(m.seq)
        o["message_id"] = .string(m.messageID)
        o["sender"] = .string(m.sender)
        o["client_id"] = .string(m.clientID)
        o["ts"] = .int(m.ts)
        o["kind"] = .string(m.kind)
        o["body"] = .string(m.body)
        o["attachments"] = .array(m.attachments.map { .string($0) })
        if let width = m.width, let height = m.height {   // an image's size (docs/ASSETS.md)
            o["width"] = .int(width)
            o["height"] = .int(height)
        }
        if let tip = m.tip {
            o["tip"] = .object(["amount_cents": .int(tip.amountCents), "currency": .string(tip.currency)])
        } else {
            o["tip"] = .null
        }
        return o
    }

    public static func messageEvent(_ m: StoredMessage) -> OutboundEvent {
        var o: JSONObject = ["type": "message"]
        for (key, value) in message(m) { o[key] = value }
        return OutboundEvent(kind: .message(conversationID: m.conversationID, seq: m.seq), text: JSON.object(o).serialized())
    }

    public static func ack(_ a: Ack) -> JSONObject {
        ["client_id": .string(a.clientID), "conversation_id": .string(a.conversationID), "seq": .int(a.seq),
         "message_id": .string(a.messageID), "ts": .int(a.ts)]
    }

    public static func receiptEvent(conversationID: String, user: String, delivered: Int64, read: Int64) -> OutboundEvent {
        let o: JSONObject = ["type": "receipt", "conversation_id": .string(conversationID), "user": .string(user),
                             "delivered": .int(delivered), "read": .int(read)]
        return OutboundEvent(kind: .receipt, text: JSON.object(o).serialized())
    }

    public static func typingEvent(conversationID: String, user: String) -> OutboundEvent {
        let o: JSONObject = ["type": "typing", "conversation_id": .string(conversationID), "user": .string(user)]
        return OutboundEvent(kind: .typing, text: JSON.object(o).serialized())
    }

    public static func summary(_ s: ConversationSummary, full: Bool) -> JSON {
        var o: JSONObject = ["conversation_id": .string(s.conversationID)]
        if full {
            o["kind"] = .string(s.kind)
            o["title"] = .string(s.title)
        }
        o["last_seq"] = .int(s.lastSeq)
        o["delivered"] = .int(s.delivered)
        o["read"] = .int(s.read)
        if full {
            o["unread"] = .int(s.unread)
            o["last_ts"] = .int(s.lastTs)
        }
        return .object(o)
    }
}
