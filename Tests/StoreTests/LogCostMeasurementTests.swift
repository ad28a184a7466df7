import Foundation
import Glibc
import XCTest
@testable import Store

/// What the replication log costs per commit, on the primary and on a follower, in CPU time of
/// the measuring thread (figures in docs/BENCHMARKS.md). Timing, not correctness: skipped unless RELAY_MEASURE=1, e.g.
/// `RELAY_MEASURE=1 swift test -c release --filter LogCostMeasurementTests`.
final class LogCostMeasurementTests: XCTestCase {
    var directory = ""

    override func setUpWithError() throws {
        try XCTSkipUnless(ProcessInfo.processInfo.environment["RELAY_MEASURE"] == "1", "set RELAY_MEASURE=1 to measure")
        directory = NSTemporaryDirectory() + "relay-measure-\(UInt64.random(in: 0...UInt64.max))"
    }

    override func tearDown() {
        try? FileManager.default.removeItem(atPath: directory)
    }

    /// CPU seconds of this thread spent in `body`: unlike wall time, not inflated when the
    /// shared machine's other work takes the core away.
    func seconds(_ body: () throws -> Void) rethrows -> Double {
        let start = threadCPUNanoseconds()
        try body()
        return Double(threadCPUNanoseconds() - start) / 1e9
    }

    func threadCPUNanoseconds() -> UInt64 {
        var now = timespec()
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &now)
        return UInt64(now.tv_sec) * 1_000_000_000 + UInt64(now.tv_nsec)
    }

    /// `commits` commits of `perCommit` messages each (plus the conversation's last_seq),
    /// on a primary, then the same entries applied by a follower; µs per commit and per message.
    func measure(_ label: String, commits: Int, perCommit: Int) throws {
        let primaryFiles = try ShardFiles(directory: directory + "/\(label)-p")
        let primary = try primaryFiles.store(0)
        _ = try primary.insertConversation(id: "c", kind: "group", title: "", historyVisible: true, now: 1)
        _ = primaryFiles.commitAll()
        var seq: Int64 = 0
        var entries: [[UInt8]] = []
        let write = try seconds {
            for _ in 0..<commits {
                for _ in 0..<perCommit {
                    seq += 1
                    try primary.insertMessage(StoredMessage(conversationID: "c", seq: seq, messageID: "m_\(seq)", sender: "u\(seq % 50)",
                                                            clientID: "k\(seq)", ts: seq, kind: "text",
                                                            body: String(repeating: "x", count: 100)))
                }
                try primary.setLastSeq(conversationID: "c", seq: seq, ts: seq)
                for (_, entry) in primaryFiles.commitAll().entries { entries.append(entry.encoded()) }
            }
        }
        let replica = try ShardStore(shard: 0, path: directory + "/\(label)-r.db")
        let first = try XCTUnwrap(primary.entries(after: 0, limit: 1)?.first)
        try replica.apply(first)
        try replica.commitApplied()
        let apply = try seconds {
            for bytes in entries {
                try replica.apply(LogEntry.decode(bytes))
                try replica.commitApplied()
            }
        }
        let bytes = entries.reduce(0) { $0 + $1.count }
        print(String(format: "%@: primary %.1f µs/commit (%.2f µs/message), follower %.1f µs/entry (%.2f µs/message), %d bytes/entry",
                     label, write * 1e6 / Double(commits), write * 1e6 / Double(commits * perCommit),
                     apply * 1e6 / Double(commits), apply * 1e6 / Double(commits * perCommit), bytes / max(1, entries.count)))
    }

    func testMeasureLogCostPerCommit() throws {
        for round in 1...3 {
            try measure("round \(round), 1 message per commit", commits: 3_000, perCommit: 1)
            try measure("round \(round), 100 messages per commit", commits: 60, perCommit: 100)
        }
    }
}
