import CSystem
import XCTest
@testable import Store

/// The store's own recorder and applier against SQLite's session extension, on random
/// transactions: the same changes recorded, the same rows after applying, the same verdict
/// on a copy that diverged.
final class RecorderOracleTests: XCTestCase {
    /// A small deterministic generator (an LCG: the seeds replay).
    struct Random {
        var state: UInt64
        mutating func next(_ n: Int) -> Int {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return Int((state >> 33) % UInt64(n))
        }
        mutating func pick<T>(_ values: [T]) -> T { values[next(values.count)] }
    }

    /// A random write to the shard's tables, over few keys so rows collide: inserts that
    /// are ignored or replace other rows (also through the unique index), updates of one or
    /// several columns, to the same values, of a key, deletes, NULLs, reals, blobs, odd text.
    static func randomWrite(_ r: inout Random) -> (String, [SQLValue]) {
        let user = SQLValue.text(r.pick(["a", "b", "c", "d"]))
        let conversation = SQLValue.text(r.pick(["x", "y"]))
        let seq = SQLValue.int(Int64(r.next(6) + 1))
        let text = SQLValue.text(r.pick(["", "hi", "é😀", "a\u{0}b", String(repeating: "z", count: 300)]))
        let number = SQLValue.int(Int64(r.next(5)))
        switch r.next(18) {
        case 0: return ("INSERT OR IGNORE INTO users(id, password_hash, display_name, created_at) VALUES(?, 'h', ?, ?)", [user, text, number])
        case 1: return ("UPDATE users SET display_name=? WHERE id=?", [text, user])
        case 2: return ("UPDATE users SET about=?, last_seen=? WHERE id=?", [text, number, user])
        case 3: return ("DELETE FROM users WHERE id=?", [user])
        case 4: return ("INSERT OR REPLACE INTO sessions(token_hash, user, device, created_at, expires_at) VALUES(?,?,?,?,?)",
                        [.blob([UInt8(r.next(4))]), user, text, number, .int(Int64(r.next(10)))])
        case 5: return ("DELETE FROM sessions WHERE expires_at<?", [.int(Int64(r.next(10)))])
        case 6: return ("INSERT OR IGNORE INTO members(conversation_id, user, joined_seq) VALUES(?,?,?)", [conversation, user, number])
        case 7: return ("UPDATE members SET delivered=?, read=?, left_seq=? WHERE conversation_id=?",
                        [number, number, r.next(2) == 0 ? .null : number, conversation])
        case 8, 9:
            return ("""
                INSERT OR REPLACE INTO messages(conversation_id, seq, message_id, sender, client_id, ts, kind, body, tip_cents)
                VALUES(?,?,?,?,?,?,'text',?,?)
                """, [conversation, seq, .text("m"), user, .text(r.pick(["k1", "k2", "k3"])), number, text,
                      r.pick([.null, .int(500), .double(2.5)])])
        case 10: return ("UPDATE messages SET body=?, hidden_for=? WHERE conversation_id=? AND seq=?", [text, r.next(2) == 0 ? .null : user, conversation, seq])
        case 11: return ("UPDATE OR IGNORE messages SET seq=seq+3 WHERE conversation_id=? AND seq=?", [conversation, seq])
        case 12: return ("DELETE FROM messages WHERE conversation_id=? AND seq<?", [conversation, seq])
        case 13: return ("UPDATE users SET display_name=display_name WHERE id=?", [user])
        case 14: return ("INSERT OR IGNORE INTO conversations(id, kind, created_at) VALUES(?, 'group', 1)", [conversation])
        case 15: return ("DELETE FROM members WHERE conversation_id=? AND user=?", [conversation, user])
        case 16: return ("DELETE FROM conversations WHERE id=? AND last_seq>?", [conversation, number])
        default: return ("UPDATE conversations SET last_seq=last_seq+1, last_ts=? WHERE id=?", [number, conversation])
        }
    }

    /// A canonical form of a parsed changeset, to compare two regardless of order.
    static func canonical(_ tables: [Changeset.Table]) -> [String: [String]] {
        var out: [String: [String]] = [:]
        for table in tables {
            out[table.name, default: []] += table.changes.map { "\($0.op) \($0.old) \($0.new) \(table.keyPlaces)" }
        }
        return out.mapValues { $0.sorted() }
    }

    func shardDatabase(_ label: String) throws -> Database {
        let db = try Database(memory: label)
        try Migrator.migrate(db, ShardSchema.migrations)
        return db
    }

    func without(_ tables: [String: [[SQLValue]]], _ name: String = "shard_log") -> [String: [[SQLValue]]] {
        var out = tables
        out[name] = nil
        return out
    }

    func testRecorderWritesWhatTheSessionExtensionWritesAndBothAppliersAgree() throws {
        var kinds: [String: Int] = [:]
        for seed: UInt64 in 1...12 {
            var r = Random(state: seed)
            let primary = try ShardStore(shard: 0, database: try shardDatabase("primary"))   // our recorder
            let twin = try shardDatabase("twin")                                              // SQLite's session
            let follower = try ShardStore(shard: 0, database: try shardDatabase("follower"))  // our applier
            let sqliteFollower = try shardDatabase("sqlite-follower")                         // SQLite's applier
            for transaction in 0..<40 {
                try twin.beginIfNeeded()
                let session = try SessionOracle(twin)
                for _ in 0...r.next(8) {
                    let (sql, args) = Self.randomWrite(&r)
                    let mine = Result { () throws(StoreError) in try primary.write(sql, arguments: args) }
                    let theirs = Result { () throws(StoreError) in try twin.run(sql, arguments: args) }
                    XCTAssertEqual(try? mine.get(), try? theirs.get(), "seed \(seed): \(sql)")
                }
                let expected = try XCTUnwrap(session.changeset())
                try twin.commit()
                let entry = try primary.commit(term: 1)
                let context = "seed \(seed), transaction \(transaction)"
                XCTAssertEqual(Self.canonical(try Changeset.parse(entry?.changeset ?? [])), Self.canonical(try Changeset.parse(expected)), context)
                XCTAssertEqual(without(try dump(twin)), without(try dump(primary.db)), context)
                guard let entry else { continue }
                for table in try Changeset.parse(entry.changeset) {
                    for change in table.changes { kinds["\(table.name) \(change.op)", default: 0] += 1 }
                }
                try follower.apply(entry)
                try follower.commitApplied()
                try sqliteFollower.beginIfNeeded()
                XCTAssertEqual(sqliteApply(entry.changeset, to: sqliteFollower), SQLITE_OK, context)
                try sqliteFollower.commit()
                XCTAssertEqual(try dump(follower.db), try dump(primary.db), context)
                XCTAssertEqual(without(try dump(sqliteFollower)), without(try dump(primary.db)), context)
            }
        }
        // Every kind of change of every table came up (0x12 insert, 0x17 update, 0x09 delete).
        for table in ["users", "sessions", "members", "messages", "conversations"] {
            for op in [Changeset.insert, Changeset.update, Changeset.delete] {
                XCTAssertGreaterThan(kinds["\(table) \(op)"] ?? 0, 3, "\(table) \(op): \(kinds)")
            }
        }
    }

    func testOurApplierRefusesExactlyWhatSQLitesRefuses() throws {
        var refused = 0
        for seed: UInt64 in 1...60 {
            var r = Random(state: seed &* 977)
            let primary = try ShardStore(shard: 0, database: try shardDatabase("primary"))
            let follower = try ShardStore(shard: 0, database: try shardDatabase("follower"))
            let sqliteFollower = try shardDatabase("sqlite-follower")
            func transaction() throws -> LogEntry? {
                for _ in 0...r.next(6) {
                    let (sql, args) = Self.randomWrite(&r)
                    _ = try? primary.write(sql, arguments: args)
                }
                return try primary.commit(term: 1)
            }
            for _ in 0..<10 {
                guard let entry = try transaction() else { continue }
                try follower.apply(entry)
                try follower.commitApplied()
                XCTAssertEqual(sqliteApply(entry.changeset, to: sqliteFollower), SQLITE_OK)
            }
            // The same change behind both followers' logs, then the primary goes on.
            let (sql, args) = Self.randomWrite(&r)
            _ = try? follower.db.run(sql, arguments: args)
            follower.rollback()   // forget what the recorder saw: it is not an entry
            _ = try? sqliteFollower.run(sql, arguments: args)
            XCTAssertEqual(without(try dump(follower.db)), without(try dump(sqliteFollower)))
            for step in 0..<10 {
                guard let entry = try transaction() else { continue }
                let ours = Result { () throws(StoreError) in
                    try follower.apply(entry)
                    try follower.commitApplied()
                }
                try sqliteFollower.beginIfNeeded()
                let theirs = sqliteApply(entry.changeset, to: sqliteFollower)
                if theirs == SQLITE_OK { try sqliteFollower.commit() } else { sqliteFollower.rollback() }
                let context = "seed \(seed), step \(step): ours \(ours), SQLite's \(theirs)"
                if case .failure(let error) = ours { XCTAssertTrue(error.isDivergence, context) }
                XCTAssertEqual((try? ours.get()) != nil, theirs == SQLITE_OK, context)
                XCTAssertEqual(without(try dump(follower.db)), without(try dump(sqliteFollower)), context)
                if theirs != SQLITE_OK {
                    refused += 1
                    break
                }
            }
        }
        XCTAssertGreaterThan(refused, 10, "the random changes made copies diverge often enough to compare verdicts")
    }
}

extension ShardStore {
    /// `write` with an array of arguments, for generated statements.
    @discardableResult
    func write(_ sql: String, arguments: [SQLValue]) throws(StoreError) -> Int {
        try db.beginIfNeeded()
        return try db.run(sql, arguments: arguments)
    }
}
