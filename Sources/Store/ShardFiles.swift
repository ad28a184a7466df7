import Glibc

/// The shard files a node holds, one SQLite file per shard in the node's data folder, opened
/// on first use. Commits every open transaction at once: one commit per shard per loop turn.
public final class ShardFiles {
    public let directory: String
    public let durability: Durability
    /// Log entries each shard keeps for replicas that fall behind.
    public let keepLogEntries: Int64
    private var open: [Int: ShardStore] = [:]

    public init(directory: String, durability: Durability = .normal,
                keepLogEntries: Int64 = ShardStore.defaultLogEntries) throws(StoreError) {
        self.directory = directory
        self.durability = durability
        self.keepLogEntries = keepLogEntries
        try Self.makeDirectory(directory)
    }

    public static func fileName(shard: Int) -> String {
        let digits = String(shard)
        return "shard-" + String(repeating: "0", count: max(0, 5 - digits.count)) + digits + ".db"
    }

    /// Whether a missing shard file may be created: in a cluster only for the shards this
    /// node holds, so a stray write can never start an empty copy of a shard led elsewhere.
    public var mayCreate: (Int) -> Bool = { _ in true }

    public func store(_ shard: Int) throws(StoreError) -> ShardStore {
        if let store = open[shard] { return store }
        if access(path(shard: shard), F_OK) != 0, !mayCreate(shard) {
            throw StoreError(code: -1, message: "shard \(shard) is not held by this node")
        }
        let store = try ShardStore(shard: shard, path: directory + "/" + Self.fileName(shard: shard), durability: durability,
                                   keepLogEntries: keepLogEntries)
        open[shard] = store
        return store
    }

    public func isOpen(_ shard: Int) -> Bool { open[shard] != nil }

    /// The shards with an open transaction.
    public var dirtyShards: [Int] { open.values.filter { $0.db.inTransaction }.map(\.shard).sorted() }

    /// What one round of commits did: the shards that failed (rolled back), and the log
    /// entries the others sealed, for the replicas.
    public struct Commit {
        public var failed: [Int: StoreError] = [:]
        public var entries: [(shard: Int, entry: LogEntry)] = []
    }

    /// Commits every open transaction, each as the next entry of its shard's log under the
    /// shard's current term. On failure the shard's transaction is rolled back and reported,
    /// so the caller fails the writes that were waiting on it.
    public func commitAll(term: (Int) -> Int64 = { _ in 1 }) -> Commit {
        var result = Commit()
        for shard in dirtyShards {
            guard let store = open[shard] else { continue }
            do {
                if let entry = try store.commit(term: term(shard)) { result.entries.append((shard, entry)) }
            } catch {
                store.rollback()
                result.failed[shard] = error
            }
        }
        return result
    }

    public func path(shard: Int) -> String { directory + "/" + Self.fileName(shard: shard) }

    /// True when this node has the shard's file (it holds the shard's data).
    public func exists(shard: Int) -> Bool { open[shard] != nil || access(path(shard: shard), F_OK) == 0 }

    /// The shards whose files are in the folder.
    public func shardsOnDisk() -> [Int] {
        guard let dir = opendir(directory) else { return [] }
        defer { closedir(dir) }
        var out: [Int] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            if name.hasPrefix("shard-"), name.hasSuffix(".db"), let n = Int(name.dropFirst(6).dropLast(3)) { out.append(n) }
        }
        return out.sorted()
    }

    /// Closes a shard's database (committing nothing: the caller commits first).
    public func close(shard: Int) {
        guard let store = open.removeValue(forKey: shard) else { return }
        store.rollback()
        store.db.close()
    }

    /// Moves a shard's files out of the way after another node took the shard over: kept in
    /// `handed-off/` rather than deleted, so an operator can still recover them.
    public func retire(shard: Int) throws(StoreError) {
        close(shard: shard)
        let target = directory + "/handed-off"
        try Self.makeDirectory(target)
        for suffix in ["", "-wal", "-shm"] {
            let from = path(shard: shard) + suffix
            guard access(from, F_OK) == 0 else { continue }
            if rename(from, target + "/" + Self.fileName(shard: shard) + suffix) != 0 {
                throw StoreError(code: errno, message: "retire \(from): \(String(cString: strerror(errno)))")
            }
        }
    }

    /// Puts a complete database file (a snapshot received from another node) in place as
    /// the shard's file. The caller has written and fsynced `file` in this folder.
    public func install(shard: Int, from file: String) throws(StoreError) {
        close(shard: shard)
        for suffix in ["-wal", "-shm"] { unlink(path(shard: shard) + suffix) }
        if rename(file, path(shard: shard)) != 0 {
            throw StoreError(code: errno, message: "install \(file): \(String(cString: strerror(errno)))")
        }
    }

    public func closeAll() {
        for store in open.values { store.rollback(); store.db.close() }
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

public enum Snapshot {
    /// A consistent copy of a shard database in one file (`VACUUM INTO`), made through its
    /// own connection so a worker thread can run it while the loop keeps serving.
    public static func make(from source: String, into target: String) throws(StoreError) {
        unlink(target)
        let db = try Database(path: source)
        defer { db.close() }
        let statement = try db.prepare("VACUUM INTO ?")
        try statement.bind([.text(target)])
        while try statement.step() {}
    }
}
