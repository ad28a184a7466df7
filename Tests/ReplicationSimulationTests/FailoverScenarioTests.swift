import Replication
import ReplicationSim
import XCTest

/// Fixed scenarios on a simulated cluster, each the behaviour docs/REPLICATION.md promises.
/// Every run is deterministic (simulated time, one seed); failure messages name the seed.
final class FailoverScenarioTests: XCTestCase {
    /// A quiet cluster (no background faults or sends) whose shards all have a primary.
    func cluster(seed: UInt64, nodes: Int = 3, replication: Int = 2, configure: (inout SimSettings) -> Void = { _ in },
                 file: StaticString = #filePath, line: UInt = #line) -> ReplicationSimulation {
        var settings = SimSettings.quiet
        settings.nodeCount = nodes
        settings.replication = replication
        configure(&settings)
        let sim = ReplicationSimulation(seed: seed, settings: settings)
        sim.run(forMs: 500)
        for shard in 0..<settings.shardCount {
            XCTAssertNotNil(sim.servingPrimary(shard), "shard \(shard) has no primary after start, seed \(seed)", file: file, line: line)
        }
        return sim
    }

    /// Sends `count` messages to the conversation, one per loop turn, and waits for their acks.
    func write(_ sim: ReplicationSimulation, _ count: Int, to conversation: Int, via node: String? = nil,
               file: StaticString = #filePath, line: UInt = #line) -> [Int] {
        let ids = (0..<count).map { _ -> Int in
            defer { sim.run(forMs: 2) }
            return sim.submit(conversation: conversation, to: node.map(sim.index(of:)))
        }
        let acked = sim.run(until: { ids.allSatisfy { sim.ack(of: $0) != nil } }, limitMs: 10_000)
        XCTAssertTrue(acked, "writes to conv\(conversation) not acked, seed \(sim.seed)", file: file, line: line)
        return ids
    }

    func assertNoViolations(_ sim: ReplicationSimulation, file: StaticString = #filePath, line: UInt = #line) {
        let violations = sim.finish()
        XCTAssertTrue(violations.isEmpty, "seed \(sim.seed):\n" + violations.map(\.description).joined(separator: "\n")
            + "\n" + sim.traceTail.suffix(40).joined(separator: "\n"), file: file, line: line)
    }

    func testKillingAShardsPrimaryFailsOverWithinFiveSecondsAndLosesNoAck() throws {
        let sim = cluster(seed: 11)
        let shard = 0, conversation = sim.conversation(onShard: shard)
        let old = try XCTUnwrap(sim.servingPrimary(shard))
        let before = write(sim, 20, to: conversation)

        let killedAt = sim.nowMs
        sim.perform(.crash(sim.index(of: old)))
        let after = sim.submit(conversation: conversation)
        XCTAssertTrue(sim.run(until: { sim.ack(of: after) != nil }, limitMs: 10_000), "no ack after the kill, seed 11")
        XCTAssertLessThanOrEqual(sim.nowMs - killedAt, 5_000, "from kill to the first acked write, seed 11")
        let new = try XCTUnwrap(sim.servingPrimary(shard))
        XCTAssertNotEqual(new, old)
        XCTAssertGreaterThan(sim.core(of: new)!.term(shard), 1)

        // Every message acked before the kill is on the new primary, at its acked seq.
        let copy = sim.copy(of: shard, on: new)
        for id in before {
            let ack = try XCTUnwrap(sim.ack(of: id))
            XCTAssertNotNil(copy.conversation(conversation)?.messages[ack.seq], "send \(id) lost in the failover, seed 11")
        }
        XCTAssertEqual(sim.ack(of: after)?.seq, Int64(before.count + 1))
        assertNoViolations(sim)
    }

    func testPausedOldPrimaryCannotGetAWriteAckedAfterItWasReplaced() throws {
        let sim = cluster(seed: 12)
        let shard = 1, conversation = sim.conversation(onShard: shard)
        let old = try XCTUnwrap(sim.servingPrimary(shard))
        _ = write(sim, 5, to: conversation)
        let oldTerm = sim.core(of: old)!.term(shard)
        let lastBefore = sim.copy(of: shard, on: old).lastLSN

        sim.perform(.pause(sim.index(of: old)))
        XCTAssertTrue(sim.run(until: { sim.servingPrimary(shard).map { $0 != old } ?? false }, limitMs: 10_000),
                      "no failover while \(old) is paused, seed 12")
        _ = write(sim, 3, to: conversation)
        // A client's write reaches the paused node's socket and waits there.
        let stale = sim.submit(conversation: conversation, to: sim.index(of: old))
        sim.run(forMs: 500)
        sim.perform(.resume(sim.index(of: old), dropBacklog: false))
        sim.run(forMs: 50)

        // It woke up believing it leads, but its lease (every isr member's answer within
        // 1.8 s) had lapsed while it slept: it serves nothing at its old term, so it does not
        // even write the stale entry (issue 10: no deposed primary answers anything).
        let woke = sim.copy(of: shard, on: old)
        XCTAssertEqual(woke.lastLSN, lastBefore, "the paused primary wrote an entry after its lease lapsed, seed 12")
        XCTAssertFalse(sim.core(of: old)!.serves(shard, nowMs: sim.nowMs) && sim.core(of: old)!.term(shard) == oldTerm)
        XCTAssertTrue(sim.run(until: { sim.ack(of: stale) != nil }, limitMs: 15_000), "the stale write was never acked, seed 12")
        XCTAssertFalse(sim.serviceAcks.contains { $0.sendID == stale && $0.node == old && $0.term == oldTerm },
                       "the deposed primary acked the write at its old term, seed 12")
        let ack = try XCTUnwrap(sim.serviceAcks.first { $0.sendID == stale })
        XCTAssertGreaterThan(ack.term, oldTerm)
        assertNoViolations(sim)
    }

    func testPartitionedMinorityStopsServingAndTheMajorityTakesOver() throws {
        let sim = cluster(seed: 13, nodes: 5, replication: 3)
        let minority = try XCTUnwrap(sim.servingPrimary(0))
        let led = (0..<sim.settings.shardCount).filter { sim.servingPrimary($0) == minority }
        let cutAt = sim.nowMs
        let others = sim.names.indices.filter { sim.names[$0] != minority }
        sim.perform(.partition([[sim.index(of: minority)], others]))
        // Clients still reach the cut-off node; it must not ack anything.
        let conversation = sim.conversation(onShard: 0)
        let sends = (0..<5).map { _ -> Int in
            defer { sim.run(forMs: 300) }
            return sim.submit(conversation: conversation, to: sim.index(of: minority))
        }
        sim.run(forMs: 4_000)

        let core = try XCTUnwrap(sim.core(of: minority))
        XCTAssertFalse(core.hasMajority, "seed 13")
        for shard in led {
            XCTAssertFalse(core.serves(shard, nowMs: sim.nowMs), "the minority still serves shard \(shard), seed 13")
            let primary = sim.servingPrimary(shard)
            XCTAssertNotNil(primary, "the majority did not take shard \(shard) over, seed 13")
            XCTAssertNotEqual(primary, minority)
        }
        XCTAssertTrue(sim.run(until: { sends.allSatisfy { sim.ack(of: $0) != nil } }, limitMs: 15_000),
                      "the cut-off node's clients never got through elsewhere, seed 13")
        XCTAssertFalse(sim.serviceAcks.contains { $0.node == minority && $0.atMs > cutAt },
                       "the cut-off node acked a write, seed 13")
        sim.perform(.heal)
        assertNoViolations(sim)
    }

    func testReturningNodeDiscardsItsUnackedTailAndCatchesUp() throws {
        let sim = cluster(seed: 14)
        let shard = 2, conversation = sim.conversation(onShard: shard)
        let old = try XCTUnwrap(sim.servingPrimary(shard))
        _ = write(sim, 5, to: conversation)
        let next = sim.copy(of: shard, on: old).lastLSN + 1
        let oldTerm = sim.core(of: old)!.term(shard)

        // Cut off, it still takes writes for a moment: they commit locally and go nowhere.
        let others = sim.names.indices.filter { sim.names[$0] != old }
        sim.perform(.partition([[sim.index(of: old)], others]))
        let cutOff = (0..<3).map { _ -> Int in
            defer { sim.run(forMs: 2) }
            return sim.submit(conversation: conversation, to: sim.index(of: old))
        }
        XCTAssertTrue(sim.run(until: { sim.servingPrimary(shard).map { $0 != old } ?? false }, limitMs: 10_000), "seed 14")
        let new = try XCTUnwrap(sim.servingPrimary(shard))
        _ = write(sim, 5, to: conversation, via: new)
        XCTAssertEqual(sim.copy(of: shard, on: old).term(at: next), oldTerm, "no unacked tail on \(old), seed 14")
        XCTAssertNotEqual(sim.copy(of: shard, on: new).term(at: next), oldTerm)

        sim.perform(.heal)
        XCTAssertTrue(sim.run(until: { sim.unsettled() == nil }, limitMs: 30_000), "seed 14: \(sim.unsettled() ?? "")")
        // The tail is gone, the copies are equal, and the node leads its shard again.
        XCTAssertEqual(sim.servingPrimary(shard), old, "the shard was not handed back, seed 14")
        let back = sim.copy(of: shard, on: old)
        XCTAssertNotEqual(back.term(at: next), oldTerm, "the unacked tail survived, seed 14")
        XCTAssertEqual(back.conversations, sim.copy(of: shard, on: new).conversations)
        XCTAssertGreaterThanOrEqual(sim.stats.snapshotsInstalled, 1)
        // The writes it took while cut off were retried by their clients and stored once.
        let state = try XCTUnwrap(back.conversation(conversation))
        for id in cutOff {
            let ack = try XCTUnwrap(sim.ack(of: id), "send \(id) never acked, seed 14")
            XCTAssertEqual(state.messages.values.filter { $0.clientID == id + 1 }.count, 1)
            XCTAssertEqual(state.messages[ack.seq]?.clientID, id + 1)
        }
        assertNoViolations(sim)
    }

    func testFollowerBehindATrimmedLogGetsASnapshotAndRejoinsTheIsr() throws {
        let sim = cluster(seed: 15) { $0.logKeepEntries = 10; $0.logTrimSlack = 5 }
        let shard = 3, conversation = sim.conversation(onShard: shard)
        let primary = try XCTUnwrap(sim.servingPrimary(shard))
        let follower = try XCTUnwrap(sim.core(of: primary)!.config(shard).isr.first { $0 != primary })
        _ = write(sim, 5, to: conversation)

        sim.perform(.crash(sim.index(of: follower)))
        _ = write(sim, 60, to: conversation, via: primary)
        let log = sim.copy(of: shard, on: primary)
        XCTAssertGreaterThan(log.base, sim.copy(of: shard, on: follower).lastLSN, "the log was not trimmed past the follower, seed 15")
        XCTAssertFalse(sim.core(of: primary)!.config(shard).isr.contains(follower), "seed 15")

        let restartedAt = sim.nowMs
        sim.perform(.restart(sim.index(of: follower)))
        XCTAssertTrue(sim.run(until: { sim.unsettled() == nil }, limitMs: 30_000), "seed 15: \(sim.unsettled() ?? "")")
        XCTAssertTrue(sim.installedSnapshots.contains { $0.node == follower && $0.shard == shard && $0.atMs >= restartedAt },
                      "\(follower) caught up without a snapshot, seed 15")
        XCTAssertTrue(sim.newestConfig(shard).isr.contains(follower))
        XCTAssertEqual(sim.copy(of: shard, on: follower).conversations, sim.copy(of: shard, on: primary).conversations)
        assertNoViolations(sim)
    }
}
