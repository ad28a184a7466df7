/// A node's virtual nodes: `vnodesPerNode` points on the 64-bit ring at XXH64("<id>#<i>").
/// They give each node a stable preference over shards, as in plain consistent hashing (Karger et
/// al. 1997; Dynamo, DeCandia et al. 2007, section 4.2): a node "likes" the shards just
/// clockwise of its points. The balancing in `Assignment` decides how many shards a node gets;
/// the virtual nodes decide which ones, so its shards are spread over the whole key space and
/// every node computes the same choice.
struct VirtualNodes: Sendable {
    /// 64 points per node: enough that a node's favourite shards are spread evenly around the
    /// ring, few enough that a 50-node ring is 3,200 points (cheap to build on every change).
    static let vnodesPerNode = 64

    /// Sorted ring positions of this node's virtual nodes.
    let points: [UInt64]

    init(node: String) {
        points = (0..<VirtualNodes.vnodesPerNode)
            .map { StableHash.xxh64("\(node)#\($0)") }
            .sorted()
    }

    /// Clockwise distance from this node's nearest virtual node at or before `position` to
    /// `position`: the node whose point is closest is the one plain consistent hashing would
    /// pick, so a smaller distance means a stronger claim.
    func distance(to position: UInt64) -> UInt64 {
        // Largest point <= position; if none, the ring wraps to the last point.
        var low = 0
        var high = points.count
        while low < high {
            let mid = (low + high) / 2
            if points[mid] <= position { low = mid + 1 } else { high = mid }
        }
        guard let predecessor = low > 0 ? points[low - 1] : points.last else { return .max }
        return position &- predecessor
    }

    /// The ring position of a shard: shards are spaced evenly so each covers the same arc.
    static func position(ofShard shard: Int, shardCount: Int) -> UInt64 {
        guard shardCount > 1 else { return 0 }
        return UInt64(shard) &* (UInt64.max / UInt64(shardCount))
    }
}
