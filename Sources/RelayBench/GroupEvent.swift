/// The few fields `relay-bench group` reads from a server event, picked out of the JSON text
/// without building a tree: a 1,000-member run receives millions of `message` events, and a
/// full parse of each would cost the shared cores more than the server's own work.
///
/// One pass over the top-level object's members (nested values are skipped whole, strings
/// with their escapes); the wanted keys' values are read as strings or integers. A string
/// value with an escape in it is not decoded: the field reads as nil (the bench's own values
/// have none). Text that is not an object gives an empty event.
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
            walk(bytes) { key, value in
                if same(key, bytes, Key.type) { event.type = string(value, bytes) }
                else if same(key, bytes, Key.conversationID) { event.conversationID = string(value, bytes) }
                else if same(key, bytes, Key.sender) { event.sender = string(value, bytes) }
                else if same(key, bytes, Key.clientID) { event.clientID = string(value, bytes) }
                else if same(key, bytes, Key.kind) { event.kind = string(value, bytes) }
                else if same(key, bytes, Key.seq) { event.seq = integer(value, bytes) }
                else if same(key, bytes, Key.code) { event.code = string(value, bytes) }
                else if same(key, bytes, Key.retryAfterMs) { event.retryAfterMs = integer(value, bytes) }
            }
            return event
        }
    }

    /// The keys the bench reads.
    enum Key {
        static let type = Array("type".utf8)
        static let conversationID = Array("conversation_id".utf8)
        static let sender = Array("sender".utf8)
        static let clientID = Array("client_id".utf8)
        static let kind = Array("kind".utf8)
        static let seq = Array("seq".utf8)
        static let code = Array("code".utf8)
        static let retryAfterMs = Array("retry_after_ms".utf8)
    }

    /// "c17" → 17: the bench's client ids.
    static func messageIndex(_ clientID: String?) -> Int? {
        guard let clientID, clientID.hasPrefix("c") else { return nil }
        return Int(clientID.dropFirst())
    }

    /// Calls `visit(key, value)` for each member of the top-level object, in one pass: the key
    /// without its quotes, the value's bytes as written (a string with its quotes). Stops at
    /// anything that is not a well-formed flat-enough object (a key with an escape in it).
    static func walk(_ b: UnsafeBufferPointer<UInt8>, _ visit: (Range<Int>, Range<Int>) -> Void) {
        let n = b.count
        var i = 0
        func skipSpace() { while i < n, b[i] == 0x20 || b[i] == 0x0A || b[i] == 0x0D || b[i] == 0x09 { i += 1 } }
        /// From an opening quote at i: past the closing one; false if the text ends first.
        func skipString() -> Bool {
            i += 1
            while i < n {
                switch b[i] {
                case UInt8(ascii: "\""): i += 1; return true
                case UInt8(ascii: "\\"): i += 2
                default: i += 1
                }
            }
            return false
        }
        skipSpace()
        guard i < n, b[i] == UInt8(ascii: "{") else { return }
        i += 1
        while true {
            skipSpace()
            guard i < n, b[i] == UInt8(ascii: "\"") else { return }
            let keyStart = i + 1
            guard skipString() else { return }
            let key = keyStart..<(i - 1)
            skipSpace()
            guard i < n, b[i] == UInt8(ascii: ":") else { return }
            i += 1
            skipSpace()
            guard i < n else { return }
            let valueStart = i
            switch b[i] {
            case UInt8(ascii: "\""):
                guard skipString() else { return }
            case UInt8(ascii: "{"), UInt8(ascii: "["):
                var depth = 0
                repeat {
                    switch b[i] {
                    case UInt8(ascii: "\""):
                        guard skipString() else { return }
                        continue
                    case UInt8(ascii: "{"), UInt8(ascii: "["): depth += 1
                    case UInt8(ascii: "}"), UInt8(ascii: "]"): depth -= 1
                    default: break
                    }
                    i += 1
                } while depth > 0 && i < n
            default:
                while i < n, b[i] != UInt8(ascii: ","), b[i] != UInt8(ascii: "}"), b[i] != 0x20 { i += 1 }
            }
            visit(key, valueStart..<i)
            skipSpace()
            guard i < n, b[i] == UInt8(ascii: ",") else { return }
            i += 1
        }
    }

    static func same(_ range: Range<Int>, _ bytes: UnsafeBufferPointer<UInt8>, _ key: [UInt8]) -> Bool {
        guard range.count == key.count else { return false }
        return key.withUnsafeBufferPointer { k in
            var index = 0
            for at in range {
                guard k[index] == bytes[at] else { return false }
                index += 1
            }
            return true
        }
    }

    /// A string value without escapes, else nil.
    static func string(_ value: Range<Int>, _ bytes: UnsafeBufferPointer<UInt8>) -> String? {
        guard value.count >= 2, bytes[value.lowerBound] == UInt8(ascii: "\""), bytes[value.upperBound - 1] == UInt8(ascii: "\"") else { return nil }
        let inner = (value.lowerBound + 1)..<(value.upperBound - 1)
        for at in inner where bytes[at] == UInt8(ascii: "\\") { return nil }
        return String(decoding: UnsafeBufferPointer(rebasing: bytes[inner]), as: UTF8.self)
    }

    /// An integer value (up to 18 digits), else nil.
    static func integer(_ value: Range<Int>, _ bytes: UnsafeBufferPointer<UInt8>) -> Int64? {
        var at = value.lowerBound
        var negative = false
        if at < value.upperBound, bytes[at] == UInt8(ascii: "-") {
            negative = true
            at += 1
        }
        guard at < value.upperBound, value.upperBound - at <= 18 else { return nil }
        var number: Int64 = 0
        while at < value.upperBound {
            guard bytes[at] >= UInt8(ascii: "0"), bytes[at] <= UInt8(ascii: "9") else { return nil }
            number = number * 10 + Int64(bytes[at] - UInt8(ascii: "0"))
            at += 1
        }
        return negative ? -number : number
    }
}
