import XCTest
@testable import Store

/// The two backends behind one API: opening off the loop, crashes, snapshots.
final class ShardFilesTests: XCTestCase {
    var directory = ""
    var backends: Backends { Backends(directory: directory) }

    override func setUp() {
        directory = NSTemporaryDirectory() + "relay-files-\(UInt64.random(in: 0...UInt64.max))"
    }

    override func tearDown() {
        try? FileManager.default.removeItem(atPath: directory)
    }

    func testBothBackendsListCloseAndRetireTheSameWay() throws {
        for backend in Backends.all {
            let files = try backends.make(backend)
            XCTAssertEqual(files.backend, backend)
            XCTAssertFalse(files.exists(shard: 4))
            XCTAssertTrue(try files.store(4).insertUser(id: "a", passwordHash: "h", displayName: "A", now: 1))
            _ = try files.store(9)
            XCTAssertEqual(files.dirtyShards, [4])
            XCTAssertEqual(files.commitAll().entries.map(\.shard), [4])
            XCTAssertEqual(files.shardsOnDisk(), [4, 9], "\(backend)")
            files.close(shard: 4)
            XCTAssertFalse(files.isOpen(4))
            XCTAssertTrue(files.exists(shard: 4))
            XCTAssertEqual(try files.store(4).passwordHash(user: "a"), "h", "\(backend): a closed shard keeps its rows")
            try files.retire(shard: 4)
            XCTAssertFalse(files.exists(shard: 4))
            XCTAssertEqual(files.shardsOnDisk(), [9])
            files.mayCreate = { _ in false }
            XCTAssertThrowsError(try files.store(4), "\(backend): a shard not held is not created")
        }
    }

    func testCrashDropsTheOpenTransactionAndKeepsWhatWasCommitted() throws {
        for backend in Backends.all {
            let files = try backends.make(backend)
            let store = try files.store(2)
            XCTAssertTrue(try store.insertUser(id: "alice", passwordHash: "h", displayName: "A", now: 1))
            let committed = try XCTUnwrap(files.commitAll(term: { _ in 3 }).entries.first?.entry)
            XCTAssertTrue(try store.insertUser(id: "bob", passwordHash: "h", displayName: "B", now: 1))   // in flight
            files.mayCreate = { _ in false }

            files.crash()
            XCTAssertFalse(files.isOpen(2))
            XCTAssertTrue(files.mayCreate(7), "the dead process's hooks are gone")
            let restarted = try files.store(2)
            XCTAssertFalse(restarted === store)
            XCTAssertNotNil(try restarted.passwordHash(user: "alice"), "\(backend)")
            XCTAssertNil(try restarted.passwordHash(user: "bob"), "\(backend): the open transaction is lost")
            XCTAssertEqual(restarted.lastLSN, 1)
            XCTAssertEqual(restarted.lastTerm, 3)
            XCTAssertEqual(try restarted.encodedEntries(after: 0, through: 1)?.map(\.bytes), [committed.encoded()])
            XCTAssertTrue(try restarted.insertUser(id: "bob", passwordHash: "h", displayName: "B", now: 2))
            XCTAssertEqual(files.commitAll(term: { _ in 3 }).entries.first?.entry.lsn, 2, "the log goes on from the committed entry")
        }
    }

    func testWithWorkersTheLoopNeitherCreatesNorMigratesAFile() throws {
        let files = try backends.make(.disk)
        let work = DeferredWork()
        files.runner = work
        XCTAssertThrowsError(try files.store(5)) { error in
            XCTAssertTrue((error as? StoreError)?.isNotReady == true, "\(error)")
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: files.path(shard: 5)), "nothing created on the loop")
        XCTAssertEqual(work.pending, 1)
        var opened: [Result<ShardStore, StoreError>] = []
        files.open(5, create: true) { opened.append($0) }          // joins the open under way
        XCTAssertThrowsError(try files.store(5))
        work.drain()
        XCTAssertEqual(opened.count, 1)
        XCTAssertTrue(try files.store(5) === opened[0].get())
        files.open(5, create: false) { opened.append($0) }         // open already: at once
        XCTAssertEqual(opened.count, 2)

        // A file at the current schema opens on the loop (cheap); an older one is migrated
        // on the workers.
        files.close(shard: 5)
        XCTAssertNotNil(try files.store(5))
        files.close(shard: 5)
        let old = try Database(path: files.path(shard: 6))
        try Migrator.migrate(old, Array(ShardSchema.migrations.prefix(2)))
        old.close()
        XCTAssertThrowsError(try files.store(6))
        XCTAssertEqual(try Database(path: files.path(shard: 6), create: false).schemaVersion, 2, "not migrated on the loop")
        work.drain()
        XCTAssertEqual(try files.store(6).db.schemaVersion, ShardSchema.migrations.map(\.version).max())

        // An open overtaken by a close is not registered; its callers hear so.
        files.close(shard: 6)
        var overtaken: Result<ShardStore, StoreError>?
        files.open(6, create: false) { overtaken = $0 }
        files.close(shard: 6)
        XCTAssertNotNil(overtaken)
        XCTAssertThrowsError(try overtaken?.get())
        work.drain()
        XCTAssertFalse(files.isOpen(6))
        XCTAssertThrowsError(try files.store(7).insertUser(id: "x", passwordHash: "", displayName: "", now: 0))
        work.drain()
        XCTAssertTrue(files.isOpen(7))
    }

    func testOpenOnTheMemoryBackendCompletesAtOnce() throws {
        let files = try backends.make(.memory)
        files.runner = DeferredWork()
        var opened: ShardStore?
        files.open(3, create: true) { opened = try? $0.get() }
        XCTAssertNotNil(opened)
        var missing: Result<ShardStore, StoreError>?
        files.open(4, create: false) { missing = $0 }
        XCTAssertThrowsError(try missing?.get())
        XCTAssertNotNil(try files.store(8), "nothing to create or migrate off the loop in memory")
    }

    /// The shard's store, opened (created) through the runner.
    func opened(_ shard: Int, in files: ShardFiles) throws -> ShardStore {
        var store: Result<ShardStore, StoreError>?
        files.open(shard, create: true) { store = $0 }
        (files.runner as? DeferredWork)?.drain()
        return try XCTUnwrap(store).get()
    }

    /// Makes a snapshot of `source`'s shard, moves it in small chunks into `target` and
    /// installs it, through the runners.
    func transfer(_ shard: Int, from source: ShardFiles, to target: ShardFiles, chunk: Int) throws -> ShardStore {
        var made: Result<SnapshotSource, StoreError>?
        source.makeSnapshot(shard: shard, tag: "n2") { made = $0 }
        (source.runner as? DeferredWork)?.drain()
        let snapshot = try XCTUnwrap(made).get()
        XCTAssertGreaterThan(snapshot.size, 0)
        var sink: SnapshotSink?
        target.beginSnapshot(shard: shard) { sink = try? $0.get() }
        (target.runner as? DeferredWork)?.drain()
        while let current = sink, current.received < snapshot.size {
            let length = Int(min(Int64(chunk), snapshot.size - current.received))
            var bytes: [UInt8]?
            source.read(snapshot, offset: current.received, length: length) { bytes = try? $0.get() }
            (source.runner as? DeferredWork)?.drain()
            target.write(current, try XCTUnwrap(bytes)) { sink = try? $0.get() }
            (target.runner as? DeferredWork)?.drain()
        }
        var finished: SnapshotSink?
        target.finish(try XCTUnwrap(sink)) { finished = try? $0.get() }
        (target.runner as? DeferredWork)?.drain()
        var installed: Result<ShardStore, StoreError>?
        target.install(shard: shard, from: try XCTUnwrap(finished)) { installed = $0 }
        (target.runner as? DeferredWork)?.drain()
        source.discard(snapshot)
        (source.runner as? DeferredWork)?.drain()
        XCTAssertThrowsError(try snapshot.read(offset: snapshot.size, length: 1), "no range beyond the end")
        return try XCTUnwrap(installed).get()
    }

    func testSnapshotMadeReadWrittenFinishedAndInstalledIsTheShard() throws {
        for backend in Backends.all {
            let source = try backends.make(backend, name: "source"), target = try backends.make(backend, name: "target")
            source.runner = DeferredWork()
            target.runner = DeferredWork()
            let primary = try opened(1, in: source)
            for seq: Int64 in 1...300 { try primary.insertMessage(.sample(seq)) }
            _ = source.commitAll(term: { _ in 2 })
            try primary.insertSession(tokenHash: [9], user: "alice", device: "d", now: 1, expiresAt: 5)
            _ = source.commitAll(term: { _ in 2 })
            // The follower held an older, different copy: the snapshot replaces it whole.
            let stale = try opened(1, in: target)
            try stale.insertMessage(.sample(1, sender: "mallory"))
            _ = target.commitAll()
            try primary.insertMessage(.sample(999))    // not committed: not in the snapshot
            XCTAssertTrue(primary.db.inTransaction)
            source.rollback(shard: 1)

            let installed = try transfer(1, from: source, to: target, chunk: 4_096)
            XCTAssertTrue(target.isOpen(1))
            XCTAssertTrue(try target.store(1) === installed)
            XCTAssertEqual(installed.lastLSN, 2)
            XCTAssertEqual(installed.lastTerm, 2)
            XCTAssertEqual(try dump(installed.db), try dump(primary.db), "\(backend)")
            if backend == .disk {
                let leftovers = try FileManager.default.contentsOfDirectory(atPath: directory + "/source")
                    .filter { $0.hasPrefix("outgoing-") }
                XCTAssertEqual(leftovers, [], "the sent snapshot is deleted")
            }

            // The follower goes on from the snapshot's last entry.
            try primary.insertMessage(.sample(301))
            _ = source.commitAll(term: { _ in 2 })
            try catchUp(installed, from: primary)
            XCTAssertEqual(try dump(installed.db), try dump(primary.db))
        }
    }

    func testMemorySnapshotRefusesAShardWithWritesInFlight() throws {
        let files = try backends.make(.memory)
        try files.store(1).insertSession(tokenHash: [1], user: "u", device: "d", now: 1, expiresAt: 2)
        var made: Result<SnapshotSource, StoreError>?
        files.makeSnapshot(shard: 1, tag: "x") { made = $0 }
        XCTAssertThrowsError(try made?.get(), "commit first: an image would carry uncommitted rows")
    }
}

extension ShardFiles {
    /// Drops the shard's open transaction (a test's stand-in for the service's rollback).
    func rollback(shard: Int) {
        if isOpen(shard) { try? store(shard).rollback() }
    }
}
