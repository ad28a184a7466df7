import Glibc

/// The shard files a node holds, one SQLite file per shard in the node's data folder, opened
/// on first use. Commits every open transaction at once: one commit per shard per loop turn.
public final class ShardFiles {
    public let directory: String
    public let durability: Durability
    private var open: [Int: ShardStore] = [:]

    public init(directory: String, durability: Durability = .normal) throws(StoreError) {
        self.directory = directory
        self.durability = durability
        try Self.makeDirectory(directory)
    }

    public static func fileName(shard: Int) -> String {
        let digits = String(shard)
        return "shard-" + String(repeating: "0", count: max(0, 5 - digits.count)) + digits + ".db"
    }

    public func store(_ shard: Int) throws(StoreError) -> ShardStore {
        if let store = open[shard] { return store }
        let store = try ShardStore(shard: shard, path: directory + "/" + Self.fileName(shard: shard), durability: durability)
        open[shard] = store
        return store
    }

    /// The shards with an open transaction.
    public var dirtyShards: [Int] { open.values.filter { $0.db.inTransaction }.map(\.shard).sorted() }

    /// Commits every open transaction. On failure the shard's transaction is rolled back and
    /// its number is returned, so the caller fails the writes that were waiting on it.
    public func commitAll() -> [Int: StoreError] {
        var failed: [Int: StoreError] = [:]
        for shard in dirtyShards {
            guard let store = open[shard] else { continue }
            do { try store.db.commit() } catch {
                store.db.rollback()
                failed[shard] = error
            }
        }
        return failed
    }

    public func closeAll() {
        for store in open.values { store.db.rollback(); store.db.close() }
        open = [:]
    }

    /// mkdir -p.
    static func makeDirectory(_ path: String) throws(StoreError) {
        var prefix = path.hasPrefix("/") ? "/" : ""
        for part in path.split(separator: "/") {
            prefix += part + "/"
            if mkdir(prefix, 0o755) != 0 && errno != EEXIST {
                throw StoreError(code: errno, message: "mkdir \(prefix): \(String(cString: strerror(errno)))")
            }
        }
    }
}
