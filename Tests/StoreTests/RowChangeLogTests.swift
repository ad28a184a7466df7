import XCTest
@testable import Store

/// The replication log: each commit's row changes, applied by a follower with any conflict
/// taken as divergence (docs/REPLICATION.md "The log carries row changes").
final class RowChangeLogTests: XCTestCase {
    var directory = ""
    var backends: Backends { Backends(directory: directory) }
    let conversation = "dm:alice:bob"
    var pairs = 0

    override func setUp() {
        directory = NSTemporaryDirectory() + "relay-log-\(UInt64.random(in: 0...UInt64.max))"
    }

    override func tearDown() {
        try? FileManager.default.removeItem(atPath: directory)
    }

    /// A primary and a follower copy of shard 3, on the given backends.
    func pair(_ primary: ShardFiles.Backend, _ replica: ShardFiles.Backend) throws -> (ShardFiles, ShardStore, ShardFiles, ShardStore) {
        pairs += 1
        let p = try backends.make(primary, name: "primary-\(pairs)"), r = try backends.make(replica, name: "replica-\(pairs)")
        return (p, try p.store(3), r, try r.store(3))
    }

    /// Writes touching every table: inserts, updates (also of one column of a composite key's
    /// row), replaces, deletes, in several commits.
    func writeHistory(_ files: ShardFiles, _ store: ShardStore) throws -> [LogEntry] {
        var entries: [LogEntry] = []
        func commit() { entries += files.commitAll(term: { _ in 7 }).entries.map(\.entry) }
        XCTAssertTrue(try store.insertUser(id: "alice", passwordHash: "$y$h", displayName: "Alice", now: 1))
        XCTAssertTrue(try store.insertUser(id: "bob", passwordHash: "$y$b", displayName: "Bob", now: 1))
        XCTAssertTrue(try store.insertConversation(id: conversation, kind: "direct", title: "", historyVisible: true, now: 1))
        try store.insertMember(conversationID: conversation, user: "alice", role: "member", joinedSeq: 0)
        try store.insertMember(conversationID: conversation, user: "bob", role: "member", joinedSeq: 0)
        try store.addToIndex(user: "alice", conversationID: conversation, now: 1)
        commit()
        for seq: Int64 in 1...5 { try store.insertMessage(.sample(seq, conversation: conversation)) }
        try store.insertMessage(.sample(6, conversation: conversation, sender: "bob"), hiddenFor: "alice")
        try store.setLastSeq(conversationID: conversation, seq: 6, ts: 1_006)
        try store.insertSession(tokenHash: [1], user: "alice", device: "phone", now: 1, expiresAt: 10)
        try store.insertSession(tokenHash: [2], user: "alice", device: "laptop", now: 1, expiresAt: 20)
        try store.insertSession(tokenHash: [3], user: "bob", device: "phone", now: 1, expiresAt: 30)
        commit()
        try store.setCursors(conversationID: conversation, user: "bob", delivered: 6, read: 4)
        try store.insertSession(tokenHash: [2], user: "alice", device: "laptop", now: 2, expiresAt: 200)   // replaced
        XCTAssertTrue(try store.deleteSession(tokenHash: [3]))
        XCTAssertEqual(try store.deleteExpiredSessions(now: 15), 1)
        commit()
        return entries
    }

    func testChangesetEntryRoundTripsAndHostileBytesAreRefused() throws {
        let (files, store, _, _) = try pair(.memory, .memory)
        let entry = try XCTUnwrap(writeHistory(files, store).first)
        XCTAssertFalse(entry.changeset.isEmpty)
        let bytes = entry.encoded()
        XCTAssertEqual(bytes.first, LogEntry.format)
        XCTAssertEqual(try LogEntry.decode(bytes), entry)
        for cut in 0..<bytes.count { XCTAssertThrowsError(try LogEntry.decode(Array(bytes.prefix(cut)))) }
        XCTAssertThrowsError(try LogEntry.decode(bytes + [0]), "trailing bytes")
        var oversized = bytes
        oversized.replaceSubrange(17..<21, with: [0xFF, 0xFF, 0xFF, 0xFF])
        XCTAssertThrowsError(try LogEntry.decode(oversized))
        // An entry of the statement log (schema 2) began with its LSN's high byte, 0.
        XCTAssertThrowsError(try LogEntry.decode([0] + Array(bytes.dropFirst())))
        var state: UInt64 = 99
        for _ in 0..<5_000 {
            var mutated = bytes
            state = state &* 6364136223846793005 &+ 1442695040888963407
            mutated[Int(state >> 33) % mutated.count] = UInt8(truncatingIfNeeded: state >> 17)
            _ = try? LogEntry.decode(mutated)
        }
    }

    func testFollowerApplyingThePrimarysEntriesHoldsTheSameRowsInEveryTable() throws {
        for (p, r) in [(ShardFiles.Backend.disk, ShardFiles.Backend.disk), (.memory, .memory), (.disk, .memory)] {
            let (primaryFiles, primary, _, replica) = try pair(p, r)
            let entries = try writeHistory(primaryFiles, primary)
            XCTAssertEqual(entries.map(\.lsn), [1, 2, 3])
            XCTAssertEqual(entries.map(\.term), [7, 7, 7])
            try catchUp(replica, from: primary)
            XCTAssertEqual(replica.lastLSN, 3)
            XCTAssertEqual(replica.lastTerm, 7)
            XCTAssertEqual(try dump(replica.db), try dump(primary.db), "\(p) to \(r)")
            XCTAssertEqual(try dump(primary.db)["sessions"]?.count, 1)
            XCTAssertThrowsError(try replica.apply(entries[0]), "an entry out of order is refused")
            XCTAssertEqual(try primary.entries(after: 3, limit: 10)?.count, 0)
            XCTAssertEqual(try primary.entries(after: 0, limit: 10), entries)
        }
    }

    func testTransactionThatChangesNoRowMakesNoEntry() throws {
        let (files, store, _, _) = try pair(.disk, .disk)
        _ = try writeHistory(files, store)
        XCTAssertFalse(try store.insertUser(id: "alice", passwordHash: "x", displayName: "x", now: 2))   // ignored
        try store.setLastSeq(conversationID: conversation, seq: 6, ts: 1_006)                         // same values
        XCTAssertEqual(try store.deleteExpiredSessions(now: 0), 0)
        XCTAssertTrue(files.commitAll(term: { _ in 7 }).entries.isEmpty)
        XCTAssertEqual(store.lastLSN, 3)
        XCTAssertTrue(files.dirtyShards.isEmpty)
    }

    func testNonDeterministicDeleteStillYieldsIdenticalCopies() throws {
        let (files, primary, _, replica) = try pair(.memory, .memory)
        for i: UInt8 in 1...6 {
            try primary.insertSession(tokenHash: [i], user: "u\(i)", device: "d", now: 1, expiresAt: Int64(i))
        }
        _ = files.commitAll()
        try catchUp(replica, from: primary)
        // The same statement picks other rows where the scan order differs: a statement log
        // would make the copies differ; their row changes cannot.
        try primary.db.execute("PRAGMA reverse_unordered_selects=ON")
        XCTAssertEqual(try primary.deleteExpiredSessions(now: 100, limit: 3), 3)
        _ = files.commitAll()
        let witness = try backends.make(.memory, name: "witness").store(3)
        try catchUp(witness, from: replica)
        XCTAssertEqual(try witness.deleteExpiredSessions(now: 100, limit: 3), 3)
        XCTAssertNotEqual(try dump(witness.db)["sessions"], try dump(primary.db)["sessions"],
                          "the statement deletes other rows when executed on the copy")
        try catchUp(replica, from: primary)
        XCTAssertEqual(try dump(replica.db), try dump(primary.db))
    }

    func testUniqueKeyMovingBetweenRowsInOneCommitApplies() throws {
        let (files, primary, _, replica) = try pair(.disk, .disk)
        try primary.insertMessage(.sample(1, conversation: conversation))
        _ = files.commitAll()
        // One commit frees (conversation, sender, client_id) c-1 and gives it to a new row: in
        // the changeset the insert may come first; SQLite retries it after the delete.
        try primary.write("DELETE FROM messages WHERE conversation_id=? AND seq=1", .text(conversation))
        var moved = StoredMessage.sample(2, conversation: conversation)
        moved.clientID = "c-1"
        try primary.insertMessage(moved)
        _ = files.commitAll()
        try catchUp(replica, from: primary)
        XCTAssertEqual(try dump(replica.db), try dump(primary.db))
    }

    func testDivergentCopyThrowsAndStaysAsCommitted() throws {
        // Each case changes the follower's rows behind the log's back, then the primary makes
        // a change whose application meets the difference.
        let cases: [(name: String, onFollower: String, onPrimary: (ShardStore) throws -> Void)] = [
            ("data: an updated row's old values differ", "UPDATE conversations SET last_seq=99",
             { try $0.setLastSeq(conversationID: self.conversation, seq: 7, ts: 1_007) }),
            ("not found: a deleted row is missing", "DELETE FROM sessions WHERE token_hash=X'01'",
             { _ = try $0.deleteSession(tokenHash: [1]) }),
            ("conflict: an inserted row exists", "INSERT INTO users(id, password_hash, display_name, created_at) VALUES('carol','h','C',1)",
             { _ = try $0.insertUser(id: "carol", passwordHash: "$y$c", displayName: "Carol", now: 2) }),
            ("constraint: a unique index holds another row", """
             INSERT INTO messages(conversation_id, seq, message_id, sender, client_id, ts, kind, body) VALUES('dm:alice:bob', 50, 'm', 'alice', 'c-7', 1, 'text', '')
             """, { try $0.insertMessage(.sample(7, conversation: self.conversation)) }),
        ]
        for backend in Backends.all {
            for (index, divergence) in cases.enumerated() {
                let primaryFiles = try backends.make(backend, name: "p\(index)")
                let primary = try primaryFiles.store(3)
                let replica = try backends.make(backend, name: "r\(index)").store(3)
                _ = try writeHistory(primaryFiles, primary)
                try primary.insertSession(tokenHash: [1], user: "alice", device: "phone", now: 1, expiresAt: 1_000)
                _ = primaryFiles.commitAll(term: { _ in 7 })
                try catchUp(replica, from: primary)
                try replica.db.execute("BEGIN; \(divergence.onFollower); COMMIT")    // not through the log
                replica.rollback()   // and not an entry of this copy's either
                let before = try dump(replica.db)
                let lastLSN = replica.lastLSN

                // A good entry first, in the same batch: the whole batch is rolled back.
                try primary.insertMessage(.sample(8, conversation: conversation))
                _ = primaryFiles.commitAll(term: { _ in 7 })
                try divergence.onPrimary(primary)
                _ = primaryFiles.commitAll(term: { _ in 8 })
                XCTAssertEqual(primary.lastLSN, lastLSN + 2)
                let encoded = try XCTUnwrap(primary.encodedEntries(after: lastLSN, through: primary.lastLSN))
                try replica.apply(LogEntry.decode(encoded[0].bytes))
                XCTAssertThrowsError(try replica.apply(LogEntry.decode(encoded[1].bytes)), divergence.name) { error in
                    XCTAssertTrue((error as? StoreError)?.isDivergence == true, "\(divergence.name): \(error)")
                }
                XCTAssertFalse(replica.db.inTransaction)
                XCTAssertEqual(replica.lastLSN, lastLSN)
                XCTAssertEqual(try dump(replica.db), before, "\(backend) \(divergence.name): the copy is as last committed")
            }
        }
    }

    func testEntryForATableOrShapeThisCopyLacksIsDivergence() throws {
        let (_, replica, _, _) = try pair(.memory, .memory)
        // A changeset made on a database with another schema: a table the shard lacks, and a
        // `users` table with one column more.
        let other = try Database(memory: "other")
        try other.execute("CREATE TABLE extra(k TEXT PRIMARY KEY, v TEXT) WITHOUT ROWID")
        try other.execute("CREATE TABLE users(id TEXT PRIMARY KEY, a, b, c, d, e, f, g, h) WITHOUT ROWID")
        for (sql, why) in [("INSERT INTO extra VALUES('a','b')", "unknown table"),
                           ("INSERT INTO users VALUES('x',1,2,3,4,5,6,7,8)", "other shape")] {
            try other.beginIfNeeded()
            let session = try SessionOracle(other)
            try other.execute(sql)
            let changeset = try XCTUnwrap(session.changeset())
            other.rollback()
            XCTAssertThrowsError(try replica.apply(LogEntry(lsn: 1, term: 1, changeset: changeset)), why) { error in
                XCTAssertTrue((error as? StoreError)?.isDivergence == true, "\(why): \(error)")
            }
            XCTAssertEqual(replica.lastLSN, 0)
        }
        // The log table itself is never replicated: a changeset naming it is refused too.
        let log = try Database(memory: "log")
        try log.execute("CREATE TABLE shard_log(lsn INTEGER PRIMARY KEY, term INTEGER NOT NULL, entry BLOB NOT NULL)")
        try log.beginIfNeeded()
        let session = try SessionOracle(log, excluding: nil)
        try log.execute("INSERT INTO shard_log VALUES(1, 1, X'00')")
        let changeset = try XCTUnwrap(session.changeset())
        XCTAssertThrowsError(try replica.apply(LogEntry(lsn: 1, term: 1, changeset: changeset))) { error in
            XCTAssertTrue((error as? StoreError)?.isDivergence == true, "\(error)")
        }
        // Garbage is an error (not a divergence: nothing says the copies differ).
        XCTAssertThrowsError(try replica.apply(LogEntry(lsn: 1, term: 1, changeset: [0x54, 1, 1, 0x41, 0, 0x12, 0, 0x07]))) { error in
            XCTAssertFalse((error as? StoreError)?.isDivergence == true, "\(error)")
        }
        XCTAssertEqual(try dump(replica.db)["users"]?.count, 0)
    }

    func testHostileChangesetsAreRefusedWithoutTrappingOrHanging() throws {
        let (files, primary, _, replica) = try pair(.memory, .memory)
        let entries = try writeHistory(files, primary)
        let samples = entries.map(\.changeset)
        XCTAssertEqual(try Changeset.parse(samples[1]).map(\.name).sorted(), ["conversations", "messages", "sessions"])
        // SQLite 3.40.1's own reader never returns on this one (an unterminated table name).
        XCTAssertThrowsError(try replica.apply(LogEntry(lsn: 1, term: 1, changeset: [0x54, 1, 1, 0xFF, 0xFF, 0xFF])))
        for sample in samples {
            let whole = try Changeset.parse(sample)
            for cut in 1..<sample.count {
                // A cut is refused, unless it falls between two changes: then fewer changes.
                if var tables = try? Changeset.parse(Array(sample.prefix(cut))), let last = tables.popLast() {
                    XCTAssertEqual(tables, Array(whole.prefix(tables.count)), "cut at \(cut)")
                    XCTAssertEqual(last.changes, Array(whole[tables.count].changes.prefix(last.changes.count)))
                }
            }
        }
        var state: UInt64 = 7
        for round in 0..<3_000 {
            var mutated = samples[round % samples.count]
            for _ in 0...(round % 3) {
                state = state &* 6364136223846793005 &+ 1442695040888963407
                mutated[Int(state >> 33) % mutated.count] = UInt8(truncatingIfNeeded: state >> 17)
            }
            // Either refused, or a well-formed change that applies or conflicts: never a trap.
            if (try? replica.apply(LogEntry(lsn: 1, term: 1, changeset: mutated))) != nil { replica.rollback() }
            XCTAssertEqual(replica.lastLSN, 0)
            XCTAssertFalse(replica.db.inTransaction)
        }
    }

    func testEveryReplicatedTableHasAKeyThatIsNeverNull() throws {
        let db = try Database(memory: "schema")
        try Migrator.migrate(db, ShardSchema.migrations)
        let tables = try RowChanges.tables(of: db)
        XCTAssertEqual(Set(tables.map(\.name)), ["users", "sessions", "user_conversations", "conversations", "members", "messages", "outbox",
                                                  "invites", "group_requests", "wallets", "charges", "wallet_entries",
                                                  "blocks", "direct_blocks", "moderation_log", "lists", "list_members", "list_messages",
                                                  "device_keys", "one_time_prekeys", "assets", "asset_refs",
                                                  "notifications", "notification_state", "conversation_prefs", "notify_marks",
                                                  "devices", "device_cursors"])
        XCTAssertEqual(tables.first { $0.name == "members" }?.keyPlaces, [1, 2, 0, 0, 0, 0, 0])
        // A table a session would skip (no key, or a key that may be NULL) is refused at open.
        for sql in ["CREATE TABLE loose(a, b)", "CREATE TABLE nullable(k TEXT PRIMARY KEY, v)"] {
            let bad = try Database(memory: "bad")
            try Migrator.migrate(bad, ShardSchema.migrations)
            try bad.execute(sql)
            XCTAssertThrowsError(try ShardStore(shard: 0, database: bad), sql)
        }
    }

    func testStatementLogFromSchema2KeepsItsPositionAndShipsNothingOlder() throws {
        let path = directory + "/old.db"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let old = try Database(path: path)
        try Migrator.migrate(old, Array(ShardSchema.migrations.prefix(2)))
        try old.execute("INSERT INTO users(id, password_hash, display_name, created_at) VALUES('alice','h','A',1)")
        for lsn in 1...40 { try old.run("INSERT INTO shard_log VALUES(?, ?, X'0000000000000001')", .int(Int64(lsn)), .int(lsn <= 30 ? 4 : 5)) }
        old.close()

        let store = try ShardStore(shard: 0, path: path)
        XCTAssertEqual(store.db.schemaVersion, ShardSchema.migrations.map(\.version).max())
        XCTAssertEqual(store.lastLSN, 40)
        XCTAssertEqual(store.lastTerm, 5)
        XCTAssertEqual(try store.term(at: 40), 5, "a follower at the marker still matches")
        XCTAssertNil(try store.term(at: 39))
        XCTAssertNil(try store.encodedEntries(after: 39, through: 40), "older entries cannot be shipped: snapshot")
        XCTAssertNil(try store.entries(after: 0, limit: 1))
        XCTAssertEqual(try store.encodedEntries(after: 40, through: 40)?.count, 0)
        XCTAssertEqual(try store.passwordHash(user: "alice"), "h", "the rows stay")

        XCTAssertTrue(try store.insertUser(id: "bob", passwordHash: "b", displayName: "B", now: 2))
        let entry = try XCTUnwrap(store.commit(term: 6))
        XCTAssertEqual(entry.lsn, 41)
        store.rollback()   // drop the in-memory copies: read from the log table
        XCTAssertEqual(try store.encodedEntries(after: 40, through: 41)?.map(\.bytes), [entry.encoded()])
        XCTAssertEqual(try store.entries(after: 40, limit: 5), [entry])
    }

    func testRollbackOfAppliedEntriesReturnsToTheCommittedPosition() throws {
        let (files, primary, _, replica) = try pair(.memory, .memory)
        let entries = try writeHistory(files, primary)
        try replica.apply(entries[0])
        try replica.commitApplied()
        try replica.apply(entries[1])
        XCTAssertEqual(replica.lastLSN, 2)
        replica.rollback()
        XCTAssertEqual(replica.lastLSN, 1)
        XCTAssertEqual(try replica.encodedEntries(after: 0, through: 5)?.map(\.lsn), [1])
        try catchUp(replica, from: primary)
        XCTAssertEqual(try dump(replica.db), try dump(primary.db))
    }
}

