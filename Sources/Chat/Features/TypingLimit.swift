/// At most one `typing` event per (user, conversation) per `windowMs`, kept in memory on the
/// conversation's shard primary, where every typing of that conversation is served, so the
/// limit holds across all the user's devices and nodes. Typing is never stored, so neither
/// is this: a new primary starts afresh (one extra event at worst).
final class TypingLimiter {
    struct Key: Hashable {
        let user: String
        let conversationID: String
    }
    /// A client sends `typing` every few seconds while its user types; one event a second is
    /// enough to keep an indicator lit and caps what a flooding client costs the members.
    static let windowMs: Int64 = 1_000
    /// Pairs remembered; a forgotten pair only lets one more event through.
    static let maxPairs = 100_000

    private var lastSent = BoundedLRU<Key, Int64>(capacity: TypingLimiter.maxPairs)
    private(set) var dropped = 0

    /// Whether a typing event may go out now (and if so, counts it as sent).
    func allow(user: String, conversationID: String, now: Int64) -> Bool {
        let key = Key(user: user, conversationID: conversationID)
        if let last = lastSent[key], now >= last, now - last < Self.windowMs {
            dropped += 1
            return false
        }
        lastSent.set(key, now)
        return true
    }
}
