/// Freshness of authenticated gossip datagrams: per sender, the stamps already accepted, so
/// a captured datagram sent again (from the sender's own address, spoofed) is refused.
///
/// A stamp is only ever compared with the same sender's earlier stamps, never with our
/// clock, so nodes need no clock sync. Per sender it keeps a floor (every stamp at or below it
/// is refused as stale) and the stamps accepted above it (an exact repeat is refused as a
/// duplicate). The floor follows the highest stamp at `spanStamps` behind, so datagrams
/// reordered by the network within the span are accepted once each, like IPsec's
/// anti-replay window (RFC 4303 3.4.3) but over a sparse stamp space: each receiver sees only
/// the share of a sender's stamps that was sent to it, so a bitmap would not do.
///
/// Pure: no clock, no I/O. Every input is a stamp that already passed the HMAC check and the
/// sender binding, so only real members create entries.
struct ReplayWindow {
    /// Stamps per millisecond of the sender's wall clock (`GossipSeal.stamp`): the low 16 bits
    /// count datagrams within one millisecond.
    static let stampsPerMs: UInt64 = 1 << 16
    /// 10 s of stamps. A datagram that arrives more than 10 s after a later one from the same
    /// sender is useless to SWIM anyway (probe timeouts are 0.1–0.8 s, suspicion 2–7 s): it is
    /// refused as stale, which to SWIM is just a loss.
    static let defaultSpanStamps: UInt64 = 10_000 * stampsPerMs
    /// Accepted stamps remembered per sender. One sender sends one receiver a few tens of
    /// datagrams per second (its probes, acks, gossip rounds) and a push-pull burst of up to
    /// ~100 for a 1,024-member view, so 512 covers the 10 s span in practice. Beyond it the
    /// oldest stamp is forgotten and the floor rises to it: safe (never a replay accepted),
    /// at worst a datagram reordered behind 512 later ones is refused as stale.
    static let defaultMaxStampsPerSender = 512
    /// Senders tracked: one per gossip address that ever sent us an authenticated datagram.
    /// The default `GossipSettings.maxMembers` is 1,024, so 1,024 addresses hold a full view.
    /// Beyond it the least recently heard sender is forgotten (see "Known limits" in
    /// docs/GOSSIP.md). Worst case memory: 1,024 × 512 × 8 bytes = 4 MiB of stamps.
    static let defaultMaxSenders = 1_024

    enum Verdict: Equatable {
        /// First time seen and within the window: accepted (and now remembered).
        case fresh
        /// Seen before: an exact replay.
        case duplicate
        /// At or below the sender's floor: older than the window, or forgotten to bound memory.
        case stale
    }

    let spanStamps: UInt64
    let maxStampsPerSender: Int
    let maxSenders: Int

    private struct Sender {
        /// Every stamp ≤ floor is refused.
        var floor: UInt64
        /// Accepted stamps above `floor`, ascending, at most `maxStampsPerSender`.
        var seen: [UInt64]
        /// `uses` when this sender last had a datagram accepted: picks whom to forget.
        var lastUse: UInt64

        mutating func admit(_ stamp: UInt64, span: UInt64, maxStamps: Int, use: UInt64) -> Verdict {
            if stamp <= floor { return .stale }
            let index = seen.insertionIndex(of: stamp)
            if index < seen.count, seen[index] == stamp { return .duplicate }
            seen.insert(stamp, at: index)
            lastUse = use
            // The floor follows the highest stamp at one span behind, and never falls; past
            // `maxStamps` it rises to the oldest stamp it must forget.
            floor = max(floor, seen[seen.count - 1].subtractingSaturating(span))
            if seen.count > maxStamps { floor = max(floor, seen[seen.count - maxStamps - 1]) }
            let below = seen.insertionIndex(of: floor &+ 1)
            if below > 0 { seen.removeFirst(below) }
            precondition(seen.count <= maxStamps && seen[0] > floor,
                         "replay window broke its bounds: floor \(floor), \(seen.count) stamps, first \(seen.first ?? 0)")
            return .fresh
        }
    }

    private var senders: [String: Sender] = [:]
    /// Counts accepted datagrams: a logical clock for "least recently heard".
    private var uses: UInt64 = 0
    /// Senders forgotten to stay within `maxSenders` (for tests and metrics).
    private(set) var sendersEvicted = 0

    init(spanStamps: UInt64 = Self.defaultSpanStamps, maxStampsPerSender: Int = Self.defaultMaxStampsPerSender,
         maxSenders: Int = Self.defaultMaxSenders) {
        precondition(spanStamps > 0 && maxStampsPerSender > 0 && maxSenders > 0,
                     "ReplayWindow bounds must be positive: span \(spanStamps), stamps \(maxStampsPerSender), senders \(maxSenders)")
        self.spanStamps = spanStamps
        self.maxStampsPerSender = maxStampsPerSender
        self.maxSenders = maxSenders
    }

    var senderCount: Int { senders.count }

    /// Stamps remembered for `sender` (for tests).
    func stampCount(of sender: String) -> Int { senders[sender]?.seen.count ?? 0 }

    /// Decides one authenticated datagram's stamp and remembers it if fresh.
    mutating func admit(stamp: UInt64, from sender: String) -> Verdict {
        uses += 1
        // Mutated in place through the dictionary (no copy of the stamp array per datagram).
        if let verdict = senders[sender]?.admit(stamp, span: spanStamps, maxStamps: maxStampsPerSender, use: uses) {
            return verdict
        }
        if senders.count >= maxSenders { evictLeastRecentlyHeard() }
        senders[sender] = Sender(floor: stamp.subtractingSaturating(spanStamps), seen: [stamp], lastUse: uses)
        return .fresh
    }

    /// Forgets the sender heard least recently. `lastUse` values are distinct, so the choice
    /// does not depend on the dictionary's order.
    private mutating func evictLeastRecentlyHeard() {
        guard let oldest = senders.min(by: { $0.value.lastUse < $1.value.lastUse })?.key else { return }
        senders.removeValue(forKey: oldest)
        sendersEvicted += 1
    }
}

extension UInt64 {
    func subtractingSaturating(_ other: UInt64) -> UInt64 { self > other ? self - other : 0 }
}

extension Array where Element == UInt64 {
    /// First index whose element is ≥ `value` (the array is ascending).
    func insertionIndex(of value: UInt64) -> Int {
        var low = 0, high = count
        while low < high {
            let mid = (low + high) / 2
            if self[mid] < value { low = mid + 1 } else { high = mid }
        }
        return low
    }
}
