/// One shard whose preference list changed between two placements.
public struct ShardMove: Sendable, Equatable {
    public let shard: Int
    /// The old preference list; [0] was the primary.
    public let from: [String]
    /// The new preference list; [0] is the primary.
    public let to: [String]

    public init(shard: Int, from: [String], to: [String]) {
        self.shard = shard
        self.from = from
        self.to = to
    }

    /// Nodes that must receive a copy of the shard.
    public var gained: [String] { to.filter { !from.contains($0) } }
    /// Nodes that may drop their copy once the new holders have caught up.
    public var lost: [String] { from.filter { !to.contains($0) } }
    public var primaryChanged: Bool { from.first != to.first }
}

public enum RingDiff {
    /// Shards whose preference list changed (order included: a new primary is a change), in
    /// shard order. Shards beyond either placement's count compare against an empty list.
    public static func moves(from old: Placement, to new: Placement) -> [ShardMove] {
        let count = max(old.shardCount, new.shardCount)
        return (0..<count).compactMap { shard in
            let before = old.preferenceList(shard: shard)
            let after = new.preferenceList(shard: shard)
            return before == after ? nil : ShardMove(shard: shard, from: before, to: after)
        }
    }
}
