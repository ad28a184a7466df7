@testable import ReplicationSim
import Chat
import XCTest

/// The checker itself: a planted fault in the final state or in the acks is reported, so a
/// clean run means something.
final class CheckerTests: XCTestCase {
    func quietCluster(seed: UInt64) -> ReplicationSimulation {
        let sim = ReplicationSimulation(seed: seed, settings: .quiet)
        sim.run(forMs: 500)
        return sim
    }

    func acked(_ sim: ReplicationSimulation, _ count: Int, to conversation: Int) -> [Int] {
        let ids = (0..<count).map { _ -> Int in
            defer { sim.run(forMs: 2) }
            return sim.submit(conversation: conversation)
        }
        XCTAssertTrue(sim.run(until: { ids.allSatisfy { sim.ack(of: $0) != nil } }, limitMs: 5_000))
        return ids
    }

    func testCleanRunHasNoViolations() {
        let sim = quietCluster(seed: 21)
        _ = acked(sim, 10, to: sim.conversation(onShard: 0))
        XCTAssertEqual(sim.finish().map(\.description), [])
    }

    func testAckedMessageMissingFromThePrimaryIsReported() throws {
        let sim = quietCluster(seed: 22)
        let conversation = sim.conversation(onShard: 0)
        _ = acked(sim, 3, to: conversation)
        let primary = try XCTUnwrap(sim.servingPrimary(0))
        sim.tamper(shard: 0, on: primary, "DELETE FROM messages WHERE conversation_id='\(sim.conversationID(conversation))' AND seq=2")
        let found = Set(sim.finish().map(\.invariant))
        XCTAssertTrue(found.contains(.ackedMessageLost), "\(found)")
        XCTAssertTrue(found.contains(.seqGap), "\(found)")
        XCTAssertTrue(found.contains(.copiesDiverge), "\(found)")
    }

    func testReplicaThatMissesAMessageIsReportedAsDiverging() throws {
        let sim = quietCluster(seed: 23)
        let conversation = sim.conversation(onShard: 1)
        _ = acked(sim, 3, to: conversation)
        let primary = try XCTUnwrap(sim.servingPrimary(1))
        let follower = try XCTUnwrap(sim.newestConfig(1).isr.first { $0 != primary })
        sim.tamper(shard: 1, on: follower, "DELETE FROM messages WHERE conversation_id='\(sim.conversationID(conversation))' AND seq=3")
        let found = sim.finish().map(\.invariant)
        XCTAssertTrue(found.contains(.copiesDiverge), "\(found)")
        XCTAssertFalse(found.contains(.ackedMessageLost), "the primary still has it: \(found)")
    }

    func testMessageStoredTwiceIsReportedAsDuplicate() throws {
        let sim = quietCluster(seed: 24)
        let conversation = sim.conversation(onShard: 2)
        let ids = acked(sim, 2, to: conversation)
        let primary = try XCTUnwrap(sim.servingPrimary(2))
        // The same client id stored again at seq 3 (under another sender, which the unique
        // index on (conversation, sender, client_id) lets through).
        let id = sim.conversationID(conversation)
        sim.tamper(shard: 2, on: primary, """
            INSERT INTO messages(conversation_id, seq, message_id, sender, client_id, ts, kind, body)
              VALUES('\(id)', 3, 'm_again', 'someone', 'c\(ids[0] + 1)', 0, 'text', 'again');
            UPDATE conversations SET last_seq=3 WHERE id='\(id)';
            """)
        let found = sim.finish().map(\.invariant)
        XCTAssertTrue(found.contains(.duplicateMessage), "\(found)")
    }

    /// A quiet cluster whose scripted clients (a group admin, a tipper) have run to the end.
    func scriptedCluster(seed: UInt64) -> ReplicationSimulation {
        var settings = SimSettings.quiet
        settings.groups = 1
        settings.changesPerGroup = 4
        settings.tippers = 1
        settings.tipsPerTipper = 12   // 12 tips of 50-149 cents: more than the 1,000 credited
        settings.lists = 1
        settings.listMembers = 5
        let sim = ReplicationSimulation(seed: seed, settings: settings)
        XCTAssertTrue(sim.run(until: { sim.openScripts == nil }, limitMs: 30_000))
        return sim
    }

    func testScriptedClientsEndCleanAndDeclinedTipsStoreNothing() {
        let sim = scriptedCluster(seed: 25)
        XCTAssertTrue(sim.scripts[1].outcomes.contains(.declined), "\(sim.scripts[1].outcomes)")
        XCTAssertTrue(sim.scripts[1].outcomes.contains(.charged))
        XCTAssertEqual(sim.finish().map(\.description), [])
    }

    func testAGroupChangeOrATipOutOfLineIsReported() {
        for tamper in ["UPDATE wallets SET balance_cents=balance_cents+1 WHERE user='t0fan'",
                       "DELETE FROM messages WHERE conversation_id='dm:l0m3:l0owner' AND client_id LIKE 'list:%:mm1'",
                       "UPDATE members SET left_seq=NULL WHERE conversation_id='grp:g0'",
                       "DELETE FROM messages WHERE conversation_id='grp:g0' AND seq=2"] {
            let sim = scriptedCluster(seed: 26)
            let key: ShardKey = tamper.contains("wallets") ? .user("t0fan")
                : tamper.contains("dm:") ? .conversation("dm:l0m3:l0owner") : .conversation("grp:g0")
            let shard = sim.shardMap.shard(for: key)
            XCTAssertNotNil(sim.servingPrimary(shard))
            for node in sim.newestConfig(shard).isr { sim.tamper(shard: shard, on: node, tamper) }
            let found = Set(sim.finish().map(\.invariant))
            XCTAssertTrue(found.contains(.scriptStateWrong), "\(tamper): \(found)")
        }
    }

    func testLedgerRejectsTwoClientsAtOneSeqAndTwoSeqsForOneClient() {
        var ledger = AckLedger()
        XCTAssertNil(ledger.record(.init(conversation: 1, clientID: 10, seq: 1, node: 0, atMs: 1)))
        XCTAssertNil(ledger.record(.init(conversation: 1, clientID: 10, seq: 1, node: 1, atMs: 2)), "the same ack twice is fine")
        XCTAssertEqual(ledger.record(.init(conversation: 1, clientID: 11, seq: 1, node: 1, atMs: 3))?.invariant, .conflictingAcks)
        XCTAssertEqual(ledger.record(.init(conversation: 1, clientID: 10, seq: 2, node: 1, atMs: 4))?.invariant, .conflictingAcks)
        XCTAssertNil(ledger.record(.init(conversation: 2, clientID: 12, seq: 1, node: 0, atMs: 5)))
    }
}
