/// Which nodes hold each shard: per shard a preference list of min(R, N) distinct nodes, the
/// first of which is the primary. See docs/RING.md for the algorithm and its measured balance.
///
/// Two ways to get one:
/// - `init(nodes:shardCount:replication:)`: a pure function of the member set. It joins the
///   nodes one at a time in sorted order onto an empty ring.
/// - `adding(_:)`, `removing(_:)`, `rebalanced(to:)`: a pure function of the current placement
///   and the new member set. These are the ones with the movement guarantee: a join moves
///   floor(S/N) primaries, all to the new node; a leave moves only the leaver's shards.
///   Recomputing from scratch for a new set does not have that guarantee (docs/RING.md explains
///   why no function of the set alone can be both balanced and minimal).
public struct Placement: Sendable, Equatable {
    /// Bound on R: a preference list per shard is kept in memory, and more than a handful of
    /// copies of a chat shard buys nothing.
    public static let maxReplication = 16

    public let nodes: [String]           // sorted, distinct
    public let shardCount: Int
    /// R, clamped to 1...maxReplication; a preference list has min(R, nodes.count) nodes.
    public let replication: Int
    /// Per shard, indexes into `nodes`; [0] is the primary.
    private let lists: [[Int]]

    /// A pure function of (the set of node ids, shardCount, replication): the same inputs give
    /// the same placement on every node, whatever order the ids arrive in. `shardCount` is
    /// clamped to 0...ShardMap.maxShardCount (validate it with `ShardMap` first).
    public init(nodes: [String], shardCount: Int, replication: Int) {
        let shards = min(max(shardCount, 0), ShardMap.maxShardCount)
        let copies = min(max(replication, 1), Placement.maxReplication)
        var work = Assignment(shardCount: shards, replication: copies)
        for node in Set(nodes).sorted() {
            work.join(node)
        }
        self.init(work)
    }

    /// A placement received from elsewhere (e.g. carried in gossip with a ring version), checked:
    /// `preferenceLists[s]` must name min(R, N) distinct members of `nodes` for every shard.
    public init(
        nodes: [String], shardCount: Int, replication: Int, preferenceLists: [[String]]
    ) throws(RingError) {
        _ = try ShardMap(shardCount: shardCount)
        guard (1...Placement.maxReplication).contains(replication) else {
            throw .replicationOutOfRange(replication)
        }
        let members = Set(nodes).sorted()
        guard preferenceLists.count == shardCount else { throw .wrongPreferenceListCount(preferenceLists.count) }
        var index = [String: Int]()
        for (position, name) in members.enumerated() { index[name] = position }
        let length = min(replication, members.count)
        var lists = [[Int]]()
        lists.reserveCapacity(shardCount)
        for (shard, list) in preferenceLists.enumerated() {
            let indexes = list.compactMap { index[$0] }
            guard list.count == length, indexes.count == length, Set(indexes).count == length else {
                throw .invalidPreferenceList(shard: shard)
            }
            lists.append(indexes)
        }
        self.nodes = members
        self.shardCount = shardCount
        self.replication = replication
        self.lists = lists
    }

    private init(_ work: Assignment) {
        let live = work.liveNames.sorted()
        var sortedIndex = [String: Int]()
        for (index, name) in live.enumerated() { sortedIndex[name] = index }
        self.nodes = live
        self.shardCount = work.shardCount
        self.replication = work.replication
        self.lists = work.lists.map { list in list.compactMap { sortedIndex[work.names[$0]] } }
    }

    private var assignment: Assignment {
        Assignment(nodes: nodes, lists: lists, shardCount: shardCount, replication: replication)
    }

    // MARK: changes with minimal movement

    /// This placement with `node` joined: only slots taken by `node` change.
    public func adding(_ node: String) -> Placement {
        rebalanced(to: nodes + [node])
    }

    /// This placement with `node` gone: only the slots `node` held change.
    public func removing(_ node: String) -> Placement {
        rebalanced(to: nodes.filter { $0 != node })
    }

    /// This placement changed to the member set `newNodes`: the nodes that left go first (in
    /// sorted order), then the new ones join (in sorted order), so the result is a pure function
    /// of (this placement, the new set).
    public func rebalanced(to newNodes: [String]) -> Placement {
        let target = Set(newNodes)
        let current = Set(nodes)
        var work = assignment
        for node in nodes where !target.contains(node) {
            work.leave(node)
        }
        for node in target.subtracting(current).sorted() {
            work.join(node)
        }
        return Placement(work)
    }

    // MARK: queries

    /// Distinct nodes; [0] is the primary. Empty for a shard out of range or a cluster without
    /// nodes.
    public func preferenceList(shard: Int) -> [String] {
        guard lists.indices.contains(shard) else { return [] }
        return lists[shard].map { nodes[$0] }
    }

    /// nil when there are no nodes or the shard is out of range.
    public func primary(shard: Int) -> String? {
        guard lists.indices.contains(shard), let first = lists[shard].first else { return nil }
        return nodes[first]
    }

    public func shardsLed(by node: String) -> [Int] {
        guard let index = nodeIndex(node) else { return [] }
        return lists.indices.filter { lists[$0].first == index }
    }

    /// Shards the node leads or replicates.
    public func shardsHeld(by node: String) -> [Int] {
        guard let index = nodeIndex(node) else { return [] }
        return lists.indices.filter { lists[$0].contains(index) }
    }

    private func nodeIndex(_ node: String) -> Int? {
        // `nodes` is sorted: binary search.
        var low = 0
        var high = nodes.count
        while low < high {
            let mid = (low + high) / 2
            if nodes[mid] < node { low = mid + 1 } else { high = mid }
        }
        return low < nodes.count && nodes[low] == node ? low : nil
    }
}
