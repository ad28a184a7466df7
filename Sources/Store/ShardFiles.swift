import Glibc

/// The shard databases a node holds, opened on first use, on one of two backends: files in the
/// node's data folder (`init(directory:…)`), or in-memory databases for the simulation
/// (`init(memory:…)`). Commits every open transaction at once: one commit per shard per loop
/// turn. Used from the loop thread only.
///
/// Slow disk work never runs on the loop once `runner` is a worker pool: creating and
/// migrating a shard file (`open(_:create:done:)`), and a snapshot's making, reading, writing,
/// fsync and installation. Their results come back on the loop; on the memory backend they
/// complete at once, through the same calls.
public final class ShardFiles {
    /// Where the shard databases live.
    public enum Backend: Sendable, Equatable {
        case disk
        case memory
    }

    private enum Medium {
        case disk(DiskShards)
        case memory(MemoryShards)
    }

    private let medium: Medium
    /// The data folder (disk), or the memory backend's name.
    public let directory: String
    public let durability: Durability
    /// Log entries each shard keeps for replicas that fall behind.
    public let keepLogEntries: Int64
    private var stores: [Int: ShardStore] = [:]

    /// Opens under way off the loop, each with the callers waiting for it. `token` tells a
    /// finished open that is still wanted from one overtaken by `close`, `install` or `crash`.
    private struct Opening {
        var token: UInt64
        var waiters: [(Result<ShardStore, StoreError>) -> Void]
    }
    private var opening: [Int: Opening] = [:]
    private var nextToken: UInt64 = 0
    /// Shards with a worker job under way, wanted or not: a shard's next job waits in `queued`
    /// until it ends, so two jobs never touch one shard's files at once (an install renaming
    /// a file that an overtaken open still has open, with its WAL).
    private var running: Set<Int> = []
    private var queued: [Int: () -> Void] = [:]

    /// Runs the slow work. Inline by default (tests, tools); the node sets its worker pool,
    /// after which the loop never creates or migrates a shard file itself.
    public var runner: SlowWorkRunner = InlineWork() {
        didSet { offloaded = !(runner is InlineWork) }
    }
    private var offloaded = false

    /// Whether a missing shard may be created by `store(_:)`: in a cluster only for the shards
    /// this node leads, so a stray write can never start an empty copy of a shard led elsewhere.
    public var mayCreate: (Int) -> Bool = { _ in true }

    /// Shard files in `directory`.
    public init(directory: String, durability: Durability = .normal,
                keepLogEntries: Int64 = ShardStore.defaultLogEntries) throws(StoreError) {
        self.directory = directory
        self.durability = durability
        self.keepLogEntries = keepLogEntries
        medium = .disk(DiskShards(directory: directory, durability: durability, keepLogEntries: keepLogEntries))
        try DiskShards.makeDirectory(directory)
    }

    /// Shard databases in this process's memory, named `name` in errors. `crash()` keeps them.
    public init(memory name: String, keepLogEntries: Int64 = ShardStore.defaultLogEntries) {
        directory = name
        durability = .normal
        self.keepLogEntries = keepLogEntries
        medium = .memory(MemoryShards(name: name))
    }

    public var backend: Backend {
        switch medium {
        case .disk: return .disk
        case .memory: return .memory
        }
    }

    public static func fileName(shard: Int) -> String { DiskShards.fileName(shard: shard) }

    // MARK: Opening

    /// The shard's store, if it can be had at once. An open store is returned; otherwise it is
    /// opened now, unless that would create or migrate a file on the loop (with a worker
    /// `runner`): then an open starts off the loop (creating only if `mayCreate`) and this
    /// throws `notReady` (`StoreError.isNotReady`): ask again after it, or use `open(_:create:done:)`.
    public func store(_ shard: Int) throws(StoreError) -> ShardStore {
        if let store = stores[shard] { return store }
        guard opening[shard] == nil else { throw notReady(shard) }
        let store: ShardStore
        switch medium {
        case .memory(let memory):
            guard memory.exists(shard: shard) || mayCreate(shard) else { throw notHeld(shard) }
            store = try memory.open(shard: shard, create: true, keepLogEntries: keepLogEntries)
        case .disk(let disk):
            let exists = disk.exists(shard: shard)
            guard exists || mayCreate(shard) else { throw notHeld(shard) }
            if offloaded {
                if exists, let current = try disk.openIfCurrent(shard: shard) {
                    store = current
                } else {
                    open(shard, create: true) { _ in }
                    throw notReady(shard)
                }
            } else {
                store = try disk.open(shard: shard, create: true)
            }
        }
        stores[shard] = store
        return store
    }

    /// Opens the shard's store, creating its file if `create` (else a missing shard fails),
    /// and migrating it: off the loop on the disk backend, at once on the memory backend or
    /// when it is already open. `done` runs on the loop, possibly before this returns; calls
    /// for a shard already being opened wait for that open.
    public func open(_ shard: Int, create: Bool, done: @escaping (Result<ShardStore, StoreError>) -> Void) {
        if let store = stores[shard] { return done(.success(store)) }
        if opening[shard] != nil {
            opening[shard]!.waiters.append(done)
            return
        }
        switch medium {
        case .memory(let memory):
            done(Result { () throws(StoreError) in
                let store = try memory.open(shard: shard, create: create, keepLogEntries: keepLogEntries)
                stores[shard] = store
                return store
            })
        case .disk(let disk):
            startOpening(shard, done: done) { () throws(StoreError) in try disk.open(shard: shard, create: create) }
        }
    }

    /// Runs `work` (which ends with the shard's store opened) through the runner and
    /// registers its store on the loop, unless the open was overtaken meanwhile.
    private func startOpening(_ shard: Int, done: @escaping (Result<ShardStore, StoreError>) -> Void,
                              work: @escaping @Sendable () throws(StoreError) -> ShardStore) {
        nextToken += 1
        let token = nextToken
        opening[shard] = Opening(token: token, waiters: [done])
        let start = { [weak self] in
            guard let self else { return }
            running.insert(shard)
            let submitted = runner.run({ () -> Result<HandOver<ShardStore>, StoreError> in
                Result { () throws(StoreError) in HandOver(value: try work()) }
            }, done: { [weak self] result in
                guard let self else {
                    if case .success(let store) = result { store.value.db.close() }
                    return
                }
                running.remove(shard)
                if let next = queued.removeValue(forKey: shard) { next() }
                guard opening[shard]?.token == token, let waiting = opening.removeValue(forKey: shard) else {
                    if case .success(let store) = result { store.value.db.close() }
                    return
                }
                let opened = result.map { handOver in
                    stores[shard] = handOver.value
                    return handOver.value
                }
                for waiter in waiting.waiters { waiter(opened) }
            })
            if !submitted {
                running.remove(shard)
                if opening[shard]?.token == token, let waiting = opening.removeValue(forKey: shard) {
                    for waiter in waiting.waiters { waiter(.failure(busy("open shard \(shard)"))) }
                }
            }
        }
        if running.contains(shard) { queued[shard] = start } else { start() }
    }

    /// Fails the callers waiting for an open of `shard` that is no longer wanted.
    private func cancelOpening(_ shard: Int, why: String) {
        queued.removeValue(forKey: shard)
        guard let waiting = opening.removeValue(forKey: shard) else { return }
        let error = StoreError(code: -1, message: "shard \(shard): \(why) while it was being opened")
        for waiter in waiting.waiters { waiter(.failure(error)) }
    }

    private func notReady(_ shard: Int) -> StoreError {
        StoreError(code: StoreError.notReadyCode, message: "shard \(shard) is being opened")
    }

    private func notHeld(_ shard: Int) -> StoreError {
        StoreError(code: -1, message: "shard \(shard) is not held by this node")
    }

    public func isOpen(_ shard: Int) -> Bool { stores[shard] != nil }
    public func isOpening(_ shard: Int) -> Bool { opening[shard] != nil }

    /// Whether some shard has an open transaction (`dirtyShards` without building the list:
    /// asked at every loop turn's end).
    public var hasDirtyShards: Bool { stores.values.contains { $0.db.inTransaction } }

    /// The shards with an open transaction.
    public var dirtyShards: [Int] { stores.values.filter { $0.db.inTransaction }.map(\.shard).sorted() }

    // MARK: Committing

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
            guard let store = stores[shard] else { continue }
            do {
                if let entry = try store.commit(term: term(shard)) { result.entries.append((shard, entry)) }
            } catch {
                store.rollback()
                result.failed[shard] = error
            }
        }
        return result
    }

    // MARK: What is held

    /// The shard's file (disk backend).
    public func path(shard: Int) -> String { directory + "/" + Self.fileName(shard: shard) }

    /// True when this node has the shard's database (it holds the shard's data).
    public func exists(shard: Int) -> Bool {
        if stores[shard] != nil { return true }
        switch medium {
        case .disk(let disk): return disk.exists(shard: shard)
        case .memory(let memory): return memory.exists(shard: shard)
        }
    }

    /// The shards whose databases this node has.
    public func shardsOnDisk() -> [Int] {
        switch medium {
        case .disk(let disk): return disk.shards()
        case .memory(let memory): return memory.shards()
        }
    }

    // MARK: Closing

    /// Closes a shard's store, dropping its open transaction (the caller commits first). The
    /// database stays: a file on disk, the in-memory database on the memory backend.
    public func close(shard: Int) {
        cancelOpening(shard, why: "closed")
        guard let store = stores.removeValue(forKey: shard) else { return }
        store.rollback()
        release(store)
    }

    private func release(_ store: ShardStore) {
        // On the memory backend the connection is the data: it stays open in `MemoryShards`.
        if case .disk = medium { store.db.close() }
    }

    /// Gives up a shard after another node took it over: its files move to `handed-off/`
    /// (an operator can still recover them); the memory backend drops the database.
    public func retire(shard: Int) throws(StoreError) {
        close(shard: shard)
        switch medium {
        case .disk(let disk): try disk.retire(shard: shard)
        case .memory(let memory): memory.retire(shard: shard)
        }
    }

    public func closeAll() {
        for shard in Array(opening.keys) { cancelOpening(shard, why: "closed") }
        for store in stores.values {
            store.rollback()
            release(store)
        }
        stores = [:]
    }

    /// A simulated crash of the process: every open transaction is lost and so is everything
    /// the process held (open stores, their recent-entry caches and change recorders, opens in
    /// flight, whose callers are never called back, the `mayCreate` and `runner` hooks of the
    /// objects that die with it). What was committed stays, on either backend; the next
    /// `store(_:)` or `open` reads it back as a restarted process would.
    public func crash() {
        opening = [:]
        queued = [:]
        for store in stores.values {
            store.rollback()
            release(store)
        }
        stores = [:]
        mayCreate = { _ in true }
        runner = InlineWork()
    }

    // MARK: Snapshots, sending side

    /// A consistent copy of the shard's committed state for `tag` (the peer it is for): made
    /// off the loop on disk (`VACUUM INTO` a file in the data folder), at once in memory.
    /// Commit the shard first.
    public func makeSnapshot(shard: Int, tag: String, done: @escaping (Result<SnapshotSource, StoreError>) -> Void) {
        switch medium {
        case .memory(let memory):
            if let store = stores[shard], store.db.inTransaction {
                return done(.failure(StoreError(code: -1, message: "shard \(shard): commit before making a snapshot")))
            }
            done(Result { () throws(StoreError) in try memory.makeSnapshot(shard: shard) })
        case .disk(let disk):
            let submitted = runner.run({ Result { () throws(StoreError) in try disk.makeSnapshot(shard: shard, tag: tag) } },
                                       done: done)
            if !submitted { done(.failure(busy("make a snapshot of shard \(shard)"))) }
        }
    }

    /// `length` bytes of the snapshot at `offset`: read off the loop on disk.
    public func read(_ source: SnapshotSource, offset: Int64, length: Int, done: @escaping (Result<[UInt8], StoreError>) -> Void) {
        switch source.content {
        case .image:
            done(Result { () throws(StoreError) in try source.read(offset: offset, length: length) })
        case .file:
            let submitted = runner.run({ Result { () throws(StoreError) in try source.read(offset: offset, length: length) } },
                                       done: done)
            if !submitted { done(.failure(busy("read a snapshot of shard \(source.shard)"))) }
        }
    }

    /// Drops a snapshot that was sent (or abandoned): its file is deleted off the loop.
    public func discard(_ source: SnapshotSource) {
        guard case .file(let path) = source.content else { return }
        if !runner.run({ unlink(path) }, done: { _ in }) { unlink(path) }
    }

    // MARK: Snapshots, receiving side

    /// Starts receiving a snapshot of the shard: a file in the data folder (created off the
    /// loop), or an image in memory.
    public func beginSnapshot(shard: Int, done: @escaping (Result<SnapshotSink, StoreError>) -> Void) {
        switch medium {
        case .memory:
            done(.success(SnapshotSink(shard: shard, target: .image(ImageBuffer()))))
        case .disk(let disk):
            let submitted = runner.run({ Result { () throws(StoreError) in try disk.beginSnapshot(shard: shard) } }, done: { result in
                done(result.map { SnapshotSink(shard: shard, target: .file(path: $0.path, fd: $0.fd)) })
            })
            if !submitted { done(.failure(busy("receive a snapshot of shard \(shard)"))) }
        }
    }

    /// Appends the next chunk (written off the loop on disk); `done` gets the sink advanced
    /// past it. One write at a time per sink.
    public func write(_ sink: SnapshotSink, _ chunk: [UInt8], done: @escaping (Result<SnapshotSink, StoreError>) -> Void) {
        var next = sink
        next.received += Int64(chunk.count)
        switch sink.target {
        case .image(let buffer):
            buffer.bytes.append(contentsOf: chunk)
            done(.success(next))
        case .file(let path, let fd):
            let offset = sink.received
            let submitted = runner.run({ Result { () throws(StoreError) in try DiskShards.write(fd: fd, path: path, chunk, at: offset) } },
                                       done: { result in done(result.map { next }) })
            if !submitted { done(.failure(busy("write a snapshot of shard \(sink.shard)"))) }
        }
    }

    /// Makes the received snapshot durable (fsync and close, off the loop on disk).
    public func finish(_ sink: SnapshotSink, done: @escaping (Result<SnapshotSink, StoreError>) -> Void) {
        switch sink.target {
        case .image:
            done(.success(sink))
        case .file(let path, let fd):
            let submitted = runner.run({ Result { () throws(StoreError) in try DiskShards.finish(fd: fd, path: path) } },
                                       done: { result in done(result.map { sink }) })
            if !submitted { done(.failure(busy("finish a snapshot of shard \(sink.shard)"))) }
        }
    }

    /// Drops a snapshot being received (a failed transfer): its file is closed and deleted.
    /// Not for a sink whose write or finish is still under way.
    public func abandon(_ sink: SnapshotSink) {
        guard case .file(let path, let fd) = sink.target else { return }
        if !runner.run({ Glibc.close(fd); unlink(path) }, done: { _ in }) { Glibc.close(fd); unlink(path) }
    }

    /// Makes a finished snapshot the shard's database and opens it: the shard's store is
    /// closed now (its open transaction dropped), then the file is renamed into place and
    /// opened (migrated if it is older) off the loop; in memory the image is loaded at once.
    public func install(shard: Int, from sink: SnapshotSink, done: @escaping (Result<ShardStore, StoreError>) -> Void) {
        close(shard: shard)
        switch (medium, sink.target) {
        case (.memory(let memory), .image(let buffer)):
            done(Result { () throws(StoreError) in
                try memory.install(shard: shard, image: buffer.bytes)
                let store = try memory.open(shard: shard, create: false, keepLogEntries: keepLogEntries)
                stores[shard] = store
                return store
            })
        case (.disk(let disk), .file(let path, _)):
            startOpening(shard, done: done) { () throws(StoreError) in
                try disk.install(shard: shard, from: path)
                return try disk.open(shard: shard, create: false)
            }
        default:
            preconditionFailure("shard \(shard): a snapshot received for the \(sink.target) backend installed on \(backend)")
        }
    }

    private func busy(_ what: String) -> StoreError {
        StoreError(code: -1, message: "no worker free to \(what)")
    }
}
