import Foundation
import XCTest
@testable import Store

/// What recording a transaction's row changes costs by itself: the same transactions with no
/// session, and with a fresh session per transaction (created after BEGIN, changeset taken,
/// deleted), the way `ShardStore` does it. Skipped unless RELAY_MEASURE=1.
final class SessionCostMeasurementTests: XCTestCase {
    func testMeasureSessionPerTransaction() throws {
        try XCTSkipUnless(ProcessInfo.processInfo.environment["RELAY_MEASURE"] == "1", "set RELAY_MEASURE=1 to measure")
        let path = NSTemporaryDirectory() + "relay-session-\(UInt64.random(in: 0...UInt64.max)).db"
        defer { for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: path + suffix) } }
        let store = try ShardStore(shard: 0, path: path)
        let db = store.db
        _ = try store.insertConversation(id: "c", kind: "group", title: "", historyVisible: true, now: 1)
        _ = try store.commit(term: 1)
        var seq: Int64 = 0
        func transaction(recording: Bool) throws -> Int {
            try db.beginIfNeeded()
            let recorder = recording ? try RowChanges.Recorder(db) : nil
            seq += 1
            try db.run("INSERT INTO messages(conversation_id, seq, message_id, sender, client_id, ts, kind, body) VALUES('c',?,?,'u',?,1,'text',?)",
                       .int(seq), .text("m\(seq)"), .text("k\(seq)"), .text(String(repeating: "x", count: 100)))
            try db.run("UPDATE conversations SET last_seq=? WHERE id='c'", .int(seq))
            let size = try recorder?.changeset().count ?? 0
            recorder?.close()
            try db.commit()
            return size
        }
        for round in 1...3 {
            for recording in [false, true] {
                let n = 3_000
                let start = DispatchTime.now().uptimeNanoseconds
                var bytes = 0
                for _ in 0..<n { bytes += try transaction(recording: recording) }
                let us = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e3 / Double(n)
                print(String(format: "round %d, %@: %.1f µs per transaction (insert + update + commit), changeset %d bytes",
                             round, recording ? "session per transaction" : "no session", us, bytes / n))
            }
        }
    }
}
