/// Updates waiting to be disseminated (SWIM 4.1; memberlist broadcast.go's
/// TransmitLimitedQueue). One entry per member: newer news about a member replaces older.
/// Entries sent the fewest times go first (newest first among equals), and each leaves the
/// queue after `limit` transmissions. Size is bounded by the view (`maxMembers`).
struct BroadcastQueue: Sendable {
    private struct Entry: Sendable {
        var id: MemberID
        var bytes: [UInt8]
        var transmits: Int
        var order: UInt64
    }

    private var entries: [Entry] = []
    private var nextOrder: UInt64 = 0

    var isEmpty: Bool { entries.isEmpty }
    var count: Int { entries.count }

    mutating func enqueue(_ update: MemberUpdate) {
        entries.removeAll { $0.id == update.id }
        entries.append(Entry(id: update.id, bytes: GossipCodec.encode(update: update), transmits: 0, order: nextOrder))
        nextOrder += 1
    }

    /// Encoded updates that fit in `budgetBytes` (at most 255), each counted as transmitted
    /// once; entries reaching `limit` transmissions are dropped.
    mutating func take(budgetBytes: Int, limit: Int) -> [[UInt8]] {
        guard !entries.isEmpty, budgetBytes > 0 else { return [] }
        let order = entries.indices.sorted {
            let a = entries[$0], b = entries[$1]
            return a.transmits != b.transmits ? a.transmits < b.transmits : a.order > b.order
        }
        var left = budgetBytes
        var picked: [[UInt8]] = []
        for i in order where entries[i].bytes.count <= left && picked.count < 255 {
            picked.append(entries[i].bytes)
            left -= entries[i].bytes.count
            entries[i].transmits += 1
        }
        entries.removeAll { $0.transmits >= limit }
        return picked
    }
}
