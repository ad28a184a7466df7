import Glibc

/// The disk backend of `ShardFiles`: one SQLite file per shard in the node's data folder
/// (`shard-NNNNN.db`, WAL mode). A value of plain settings, so its slow operations (marked
/// "slow") can run on a worker thread; the loop calls only the cheap ones.
struct DiskShards: Sendable {
    let directory: String
    let durability: Durability
    let keepLogEntries: Int64

    static func fileName(shard: Int) -> String {
        let digits = String(shard)
        return "shard-" + String(repeating: "0", count: max(0, 5 - digits.count)) + digits + ".db"
    }

    func path(shard: Int) -> String { directory + "/" + Self.fileName(shard: shard) }

    func exists(shard: Int) -> Bool { access(path(shard: shard), F_OK) == 0 }

    /// The shards whose files are in the folder.
    func shards() -> [Int] {
        guard let dir = opendir(directory) else { return [] }
        defer { closedir(dir) }
        var out: [Int] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            if name.hasPrefix("shard-"), name.hasSuffix(".db"), let n = Int(name.dropFirst(6).dropLast(3)) { out.append(n) }
        }
        return out.sorted()
    }

    /// Slow: opens the shard's file, creating it (with `create`) and migrating it as needed.
    func open(shard: Int, create: Bool) throws(StoreError) -> ShardStore {
        if !create, !exists(shard: shard) { throw StoreError(code: -1, message: "shard \(shard) has no file here") }
        let db = try Database(path: path(shard: shard), durability: durability, create: create)
        return try ShardStore(shard: shard, database: db, keepLogEntries: keepLogEntries)
    }

    /// Opens an existing file that is already at this program's schema: no creation, no
    /// migration, cheap enough for the loop. nil when the file needs migrating (off the loop).
    func openIfCurrent(shard: Int) throws(StoreError) -> ShardStore? {
        let db = try Database(path: path(shard: shard), durability: durability, create: false)
        guard ShardStore.isCurrent(db) else {
            db.close()
            return nil
        }
        return try ShardStore(shard: shard, database: db, keepLogEntries: keepLogEntries)
    }

    /// Moves a shard's files to `handed-off/`, where an operator can still recover them.
    func retire(shard: Int) throws(StoreError) {
        let target = directory + "/handed-off"
        try Self.makeDirectory(target)
        for suffix in ["", "-wal", "-shm"] {
            let from = path(shard: shard) + suffix
            guard access(from, F_OK) == 0 else { continue }
            if rename(from, target + "/" + Self.fileName(shard: shard) + suffix) != 0 {
                throw StoreError.system("retire \(from)")
            }
        }
    }

    // MARK: Snapshots

    /// Slow: a consistent copy of the shard's committed state in one file (`VACUUM INTO`),
    /// through its own connection, so the loop keeps writing meanwhile.
    func makeSnapshot(shard: Int, tag: String) throws(StoreError) -> SnapshotSource {
        let target = directory + "/outgoing-\(shard)-\(tag).db"
        unlink(target)
        let db = try Database(path: path(shard: shard), create: false)
        defer { db.close() }
        let statement = try db.prepare("VACUUM INTO ?")
        try statement.bind([.text(target)])
        while try statement.step() {}
        var info = stat()
        guard stat(target, &info) == 0 else { throw StoreError.system("stat \(target)") }
        return SnapshotSource(shard: shard, size: Int64(info.st_size), content: .file(path: target))
    }

    /// Slow: a file to receive a snapshot of the shard into.
    func beginSnapshot(shard: Int) throws(StoreError) -> (path: String, fd: Int32) {
        let path = directory + "/incoming-\(shard).db"
        let fd = Glibc.open(path, O_CREAT | O_TRUNC | O_WRONLY | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw StoreError.system("open \(path)") }
        return (path, fd)
    }

    /// Slow: writes all of `bytes` at `offset`.
    static func write(fd: Int32, path: String, _ bytes: [UInt8], at offset: Int64) throws(StoreError) {
        var done = 0
        while done < bytes.count {
            let n = bytes.withUnsafeBytes { pwrite(fd, $0.baseAddress! + done, bytes.count - done, off_t(offset) + off_t(done)) }
            if n < 0, errno == EINTR { continue }
            guard n > 0 else { throw StoreError.system("write \(path)") }
            done += n
        }
    }

    /// Slow: makes the received file durable and closes it.
    static func finish(fd: Int32, path: String) throws(StoreError) {
        defer { close(fd) }
        guard fsync(fd) == 0 else { throw StoreError.system("fsync \(path)") }
    }

    /// Slow: puts a received, fsynced snapshot file in place as the shard's file (the shard's
    /// store is closed). The old file's WAL must go with it, or SQLite would replay it.
    func install(shard: Int, from file: String) throws(StoreError) {
        for suffix in ["-wal", "-shm"] { unlink(path(shard: shard) + suffix) }
        if rename(file, path(shard: shard)) != 0 {
            let error = StoreError.system("install \(file)")
            unlink(file)
            throw error
        }
        let folder = Glibc.open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if folder >= 0 {
            fsync(folder)   // the rename itself survives a power loss
            close(folder)
        }
    }

    /// mkdir -p.
    static func makeDirectory(_ path: String) throws(StoreError) {
        var prefix = path.hasPrefix("/") ? "/" : ""
        for part in path.split(separator: "/") {
            prefix += part + "/"
            if mkdir(prefix, 0o755) != 0 && errno != EEXIST {
                throw StoreError.system("mkdir \(prefix)")
            }
        }
    }
}
