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
            event.type = string(Key.type, bytes)
            switch event.type {
            case "message":
                event.conversationID = string(Key.conversationID, bytes)
                event.sender = string(Key.sender, bytes)
                event.clientID = string(Key.clientID, bytes)
                event.kind = string(Key.kind, bytes)
                event.seq = integer(Key.seq, bytes)
            case "ack":
                event.conversationID = string(Key.conversationID, bytes)
                event.clientID = string(Key.clientID, bytes)
                event.seq = integer(Key.seq, bytes)
            case "error":
                event.clientID = string(Key.clientID, bytes)
                event.code = string(Key.code, bytes)
                event.retryAfterMs = integer(Key.retryAfterMs, bytes)
            default:
                break
            }
            return event
        }
    }

    /// The `"key":` patterns, made once (not per event).
    enum Key {
        static let type = pattern("type")
        static let conversationID = pattern("conversation_id")
        static let sender = pattern("sender")
        static let clientID = pattern("client_id")
        static let kind = pattern("kind")
        static let seq = pattern("seq")
        static let code = pattern("code")
        static let retryAfterMs = pattern("retry_after_ms")
    }

    static func pattern(_ key: String) -> [UInt8] { Array(("\"" + key + "\":").utf8) }

    /// "c17" → 17: the bench's client ids.
    static func messageIndex(_ clientID: String?) -> Int? {
        guard let clientID, clientID.hasPrefix("c") else { return nil }
        return Int(clientID.dropFirst())
    }

    /// Where the value after `pattern` (`"key":`) starts (spaces after the colon skipped), or nil.
    static func valueStart(_ pattern: [UInt8], _ bytes: UnsafeBufferPointer<UInt8>) -> Int? {
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

    static func string(_ key: [UInt8], _ bytes: UnsafeBufferPointer<UInt8>) -> String? {
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

    static func integer(_ key: [UInt8], _ bytes: UnsafeBufferPointer<UInt8>) -> Int64? {
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
