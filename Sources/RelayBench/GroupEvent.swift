/// The few fields `relay-bench group` reads from a server event, picked out of the JSON text
/// without building a tree: a 1,000-member run receives millions of `message` events, and a
/// full parse of each would cost the shared cores more than the server's own work.
///
/// A key is found as `"key":` in the text. Inside a JSON string every `"` is escaped, so that
/// pattern only occurs as a key; the events the bench reads are flat objects (a message's
/// `tip` is null, `attachments` empty), so it is a top-level key. A string value with an
/// escape in it is not decoded: the field reads as nil (the bench's own values have none).
///
/// Pure.
struct GroupEvent: Equatable {
    var type: String?
    var conversationID: String?
    var sender: String?
    var clientID: String?
    var kind: String?
    var seq: Int64?
    var code: String?
    var retryAfterMs: Int64?

    init(type: String? = nil, conversationID: String? = nil, sender: String? = nil, clientID: String? = nil,
         kind: String? = nil, seq: Int64? = nil, code: String? = nil, retryAfterMs: Int64? = nil) {
        self.type = type
        self.conversationID = conversationID
        self.sender = sender
        self.clientID = clientID
        self.kind = kind
        self.seq = seq
        self.code = code
        self.retryAfterMs = retryAfterMs
    }

    static func scan(_ text: String) -> GroupEvent {
        var copy = text
        return copy.withUTF8 { bytes in
            var event = GroupEvent()
            event.type = string("type", bytes)
            switch event.type {
            case "message":
                event.conversationID = string("conversation_id", bytes)
                event.sender = string("sender", bytes)
                event.clientID = string("client_id", bytes)
                event.kind = string("kind", bytes)
                event.seq = integer("seq", bytes)
            case "ack":
                event.conversationID = string("conversation_id", bytes)
                event.clientID = string("client_id", bytes)
                event.seq = integer("seq", bytes)
            case "error":
                event.clientID = string("client_id", bytes)
                event.code = string("code", bytes)
                event.retryAfterMs = integer("retry_after_ms", bytes)
            default:
                break
            }
            return event
        }
    }

    /// "c17" → 17: the bench's client ids.
    static func messageIndex(_ clientID: String?) -> Int? {
        guard let clientID, clientID.hasPrefix("c") else { return nil }
        return Int(clientID.dropFirst())
    }

    /// Where the value of `"key":` starts (spaces after the colon skipped), or nil.
    static func valueStart(_ key: String, _ bytes: UnsafeBufferPointer<UInt8>) -> Int? {
        let pattern = Array(("\"" + key + "\":").utf8)
        let count = bytes.count
        guard count >= pattern.count else { return nil }
        var at = 0
        while at <= count - pattern.count {
            if bytes[at] == pattern[0] {
                var same = true
                for offset in 1..<pattern.count where bytes[at + offset] != pattern[offset] {
                    same = false
                    break
                }
                if same {
                    var start = at + pattern.count
                    while start < count, bytes[start] == UInt8(ascii: " ") { start += 1 }
                    return start
                }
            }
            at += 1
        }
        return nil
    }

    static func string(_ key: String, _ bytes: UnsafeBufferPointer<UInt8>) -> String? {
        guard let start = valueStart(key, bytes), start < bytes.count, bytes[start] == UInt8(ascii: "\"") else { return nil }
        var end = start + 1
        while end < bytes.count {
            switch bytes[end] {
            case UInt8(ascii: "\""):
                return String(decoding: UnsafeBufferPointer(rebasing: bytes[(start + 1)..<end]), as: UTF8.self)
            case UInt8(ascii: "\\"):
                return nil
            default:
                end += 1
            }
        }
        return nil
    }

    static func integer(_ key: String, _ bytes: UnsafeBufferPointer<UInt8>) -> Int64? {
        guard let start = valueStart(key, bytes) else { return nil }
        var at = start
        var negative = false
        if at < bytes.count, bytes[at] == UInt8(ascii: "-") {
            negative = true
            at += 1
        }
        var value: Int64 = 0
        var digits = 0
        while at < bytes.count, bytes[at] >= UInt8(ascii: "0"), bytes[at] <= UInt8(ascii: "9"), digits < 18 {
            value = value * 10 + Int64(bytes[at] - UInt8(ascii: "0"))
            digits += 1
            at += 1
        }
        guard digits > 0 else { return nil }
        return negative ? -value : value
    }
}
