/// The memory backend of `ShardFiles`: each shard's database is an in-memory SQLite
/// database, for the whole-cluster simulation (one process, one thread, thousands of seeds).
/// The connections stand for the disk: what is committed in them survives `ShardFiles.crash()`;
/// the open transaction and the stores' caches (the process) do not. Nothing here waits on I/O,
/// so every operation completes at once, on the calling thread.
final class MemoryShards {
    let name: String
    private var databases: [Int: Database] = [:]

    init(name: String) { self.name = name }

    func label(_ shard: Int) -> String { "\(name)/\(DiskShards.fileName(shard: shard))" }

    func exists(shard: Int) -> Bool { databases[shard] != nil }

    func shards() -> [Int] { databases.keys.sorted() }

    /// The shard's store over its database (created empty with `create`). A transaction left
    /// open on the connection by a process that crashed is rolled back first.
    func open(shard: Int, create: Bool, keepLogEntries: Int64) throws(StoreError) -> ShardStore {
        let db: Database
        if let existing = databases[shard] {
            db = existing
        } else {
            guard create else { throw StoreError(code: -1, message: "shard \(shard) has no database here") }
            db = try Database(memory: label(shard))
            databases[shard] = db
        }
        db.rollback()
        return try ShardStore(shard: shard, database: db, keepLogEntries: keepLogEntries)
    }

    /// Drops a shard that another node took over (the simulation keeps no `handed-off/`).
    func retire(shard: Int) {
        databases.removeValue(forKey: shard)?.close()
    }

    /// The committed state as a database image (the shard's store has no open transaction:
    /// the caller commits first).
    func makeSnapshot(shard: Int) throws(StoreError) -> SnapshotSource {
        guard let db = databases[shard] else { throw StoreError(code: -1, message: "shard \(shard) has no database here") }
        guard !db.inTransaction else {
            throw StoreError(code: -1, message: "shard \(shard): commit before making a snapshot")
        }
        let image = try db.serialize()
        return SnapshotSource(shard: shard, size: Int64(image.count), content: .image(image))
    }

    /// Replaces the shard's database with a received image.
    func install(shard: Int, image: [UInt8]) throws(StoreError) {
        let db = try Database(memory: label(shard), image: image)
        databases.removeValue(forKey: shard)?.close()
        databases[shard] = db
    }

    func closeAll() {
        for db in databases.values { db.close() }
        databases = [:]
    }
}
