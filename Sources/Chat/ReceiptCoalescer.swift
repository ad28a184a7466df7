/// At most one receipt event per (conversation, user) per second (PROTOCOL.md "receipt"):
/// the first change goes out at once; changes within the next second are merged into one
/// event sent when the second is up, carrying the cursors as they are then.
struct ReceiptCoalescer {
    struct Key: Hashable {
        var conversationID: String
        var user: String
    }

    enum Decision: Equatable {
        case sendNow
        /// Schedule `fire` at this time.
        case sendAt(Int64)
        /// Merged into an event already scheduled.
        case merged
    }

    /// The minimum spacing of two receipt events for one key.
    static let intervalMs: Int64 = 1_000
    /// Above this many remembered keys, the ones older than the interval are forgotten.
    static let pruneThreshold = 10_000

    private var lastSent: [Key: Int64] = [:]
    private var waiting: [Key: Set<String>] = [:]

    mutating func offer(_ key: Key, recipients: Set<String>, now: Int64) -> Decision {
        if waiting[key] != nil {
            waiting[key]!.formUnion(recipients)
            return .merged
        }
        if let last = lastSent[key], now - last < Self.intervalMs {
            waiting[key] = recipients
            return .sendAt(last + Self.intervalMs)
        }
        if lastSent.count > Self.pruneThreshold {
            lastSent = lastSent.filter { now - $0.value < Self.intervalMs }
        }
        lastSent[key] = now
        return .sendNow
    }

    /// The recipients gathered for a scheduled event.
    mutating func fire(_ key: Key, now: Int64) -> Set<String> {
        lastSent[key] = now
        return waiting.removeValue(forKey: key) ?? []
    }
}
