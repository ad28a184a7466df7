import CSystem
import Foundation
import Glibc
import XCTest
@testable import Store

/// What recording and applying a small transaction's row changes costs by itself, with
/// SQLite's session extension and with the store's own recorder and applier: the same
/// transactions (one message insert, one conversation update, as a send at window 1 commits)
/// on a shard database file, in CPU time. Skipped unless RELAY_MEASURE=1, e.g.
/// `RELAY_MEASURE=1 swift test -c release -Xswiftc -enable-testing --filter SessionCostMeasurementTests`.
final class SessionCostMeasurementTests: XCTestCase {
    enum Recording: String, CaseIterable {
        case none = "no recording"
        case session = "a SQLite session per transaction"
        case recorder = "RowChangeRecorder (preupdate hook)"
    }

    /// CPU time of this thread: unlike wall time, not inflated when the shared machine's other
    /// work takes the core away.
    func threadCPUNanoseconds() -> UInt64 {
        var now = timespec()
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &now)
        return UInt64(now.tv_sec) * 1_000_000_000 + UInt64(now.tv_nsec)
    }

    func testMeasureRecordingAndApplyingPerTransaction() throws {
        try XCTSkipUnless(ProcessInfo.processInfo.environment["RELAY_MEASURE"] == "1", "set RELAY_MEASURE=1 to measure")
        let folder = NSTemporaryDirectory() + "relay-session-\(UInt64.random(in: 0...UInt64.max))"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        func shardDatabase(_ name: String) throws -> Database {
            let db = try Database(path: folder + "/" + name)
            try Migrator.migrate(db, ShardSchema.migrations)
            try db.execute("INSERT INTO conversations(id, kind, created_at) VALUES('c', 'group', 1)")
            return db
        }
        let n = 3_000
        for round in 1...3 {
            var changesets: [[UInt8]] = []
            for recording in Recording.allCases {
                let db = try shardDatabase("\(round)-\(recording)")
                let tables = try RowChanges.tables(of: db)
                let recorder = recording == .recorder
                    ? RowChangeRecorder(db: db, tables: tables.map { .init(name: $0.name, columns: $0.columns, keyPlaces: $0.keyPlaces) })
                    : nil
                var bytes = 0
                let start = threadCPUNanoseconds()
                for seq in 1...n {
                    try db.beginIfNeeded()
                    let session = recording == .session ? try SessionOracle(db) : nil
                    try db.run("INSERT INTO messages(conversation_id, seq, message_id, sender, client_id, ts, kind, body) VALUES('c',?,?,'u',?,1,'text',?)",
                               .int(Int64(seq)), .text("m\(seq)"), .text("k\(seq)"), .text(String(repeating: "x", count: 100)))
                    try db.run("UPDATE conversations SET last_seq=? WHERE id='c'", .int(Int64(seq)))
                    var changeset: [UInt8] = []
                    if let session { changeset = session.changeset() ?? [] }
                    if let recorder { changeset = try recorder.changeset(); recorder.reset() }
                    bytes += changeset.count
                    if recording == .recorder { changesets.append(changeset) }
                    try db.commit()
                }
                let us = Double(threadCPUNanoseconds() - start) / 1e3 / Double(n)
                print(String(format: "round %d, record, %@: %.1f µs per transaction (insert + update + commit), changeset %d bytes",
                             round, recording.rawValue, us, bytes / n))
                recorder?.detach()
            }
            for applier in ["sqlite3changeset_apply_v2", "RowChangeApplier"] {
                let db = try shardDatabase("\(round)-apply-\(applier)")
                let ours = RowChangeApplier(db: db, tables: try RowChanges.tables(of: db))
                let start = threadCPUNanoseconds()
                for changeset in changesets {
                    try db.beginIfNeeded()
                    if applier == "RowChangeApplier" {
                        try ours.apply(Changeset.parse(changeset))
                    } else {
                        XCTAssertEqual(sqliteApply(changeset, to: db), SQLITE_OK)
                    }
                    try db.commit()
                }
                let us = Double(threadCPUNanoseconds() - start) / 1e3 / Double(changesets.count)
                print(String(format: "round %d, apply, %@: %.1f µs per entry (apply + commit)", round, applier, us))
            }
        }
    }
}
