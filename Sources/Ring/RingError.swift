/// Why a ring parameter was refused.
public enum RingError: Error, Sendable, Equatable {
    /// The shard count must be a power of two so a key's shard is a mask of its hash.
    case shardCountNotPowerOfTwo(Int)
    /// The shard count must lie in `1...ShardMap.maxShardCount`.
    case shardCountOutOfRange(Int)
    /// R must lie in `1...Placement.maxReplication`.
    case replicationOutOfRange(Int)
    /// A received placement must have exactly one preference list per shard.
    case wrongPreferenceListCount(Int)
    /// A received preference list has the wrong length, a duplicate, or a node not in the set.
    case invalidPreferenceList(shard: Int)
}
