/// Maps keys to shards. The shard count is fixed when the cluster is made: changing it would
/// move almost every key, so it is not a runtime knob.
public struct ShardMap: Sendable, Equatable {
    /// Upper bound on shards: each shard is one SQLite file per holder, and a placement keeps a
    /// preference list per shard, so 65,536 bounds both file count and memory.
    public static let maxShardCount = 65_536

    /// The recommended shard count: with 1,024 shards the balanced placement keeps primaries per
    /// node within 5% of the mean up to 50 nodes (ceil(1024/50) = 21 vs mean 20.48: 1.025).
    /// With 128 shards the same bound holds only up to about 6 nodes (see docs/RING.md).
    public static let defaultShardCount = 1_024

    public let shardCount: Int

    public init(shardCount: Int) throws(RingError) {
        guard shardCount >= 1, shardCount <= ShardMap.maxShardCount else {
            throw .shardCountOutOfRange(shardCount)
        }
        guard shardCount & (shardCount - 1) == 0 else {
            throw .shardCountNotPowerOfTwo(shardCount)
        }
        self.shardCount = shardCount
    }

    /// The low bits of XXH64(key, seed 0). XXH64's final avalanche mixes every input bit into the
    /// low bits, so a mask is as uniform as a modulo and cheaper.
    public func shard(forKey key: String) -> Int {
        Int(truncatingIfNeeded: StableHash.xxh64(key) & UInt64(shardCount - 1))
    }

    /// The shard of the key `user:<id>`, which holds the account and the user's indexes.
    public func shard(forUser user: String) -> Int {
        shard(forKey: "user:" + user)
    }

    /// The shard of the key `conv:<id>`, which holds the conversation and its messages.
    public func shard(forConversation id: String) -> Int {
        shard(forKey: "conv:" + id)
    }
}
