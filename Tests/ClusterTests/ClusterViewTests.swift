import XCTest
@testable import Cluster
import Gossip
import Ring

final class ClusterViewTests: XCTestCase {
    func member(_ id: String, _ status: MemberStatus = .alive, joinedAt: Int64 = 0) -> Member {
        Member(id: MemberID(name: id, address: "127.0.0.1:\(7200 + id.count)"), status: status, incarnation: 0,
               meta: NodeMeta(client: "127.0.0.1:1", peer: "127.0.0.1:2", joinedAt: joinedAt).encoded())
    }

    func view(_ me: String) -> ClusterView {
        var v = ClusterView(me: .init(id: me, gossip: "", status: .alive, incarnation: 0, meta: nil), shardCount: 256, replication: 2)
        v.update(member(me))
        return v
    }

    func testMetaRoundTripsAndRefusesGarbage() {
        let meta = NodeMeta(client: "127.0.0.1:7001", peer: "127.0.0.1:7101", joinedAt: 1_763_700_000_000)
        XCTAssertEqual(NodeMeta.decode(meta.encoded()), meta)
        XCTAssertNil(NodeMeta.decode([]))
        XCTAssertNil(NodeMeta.decode([9, 1, 2]))
    }

    func testNodesThatSawTheSameJoinsInAnyOrderAgree() {
        var a = view("n1"), b = view("n2")
        for m in [member("n2"), member("n3")] { a.update(m) }
        for m in [member("n3"), member("n1")] { b.update(m) }
        XCTAssertEqual(a.placement, b.placement)
        XCTAssertEqual(a.ring, ["n1", "n2", "n3"])
    }

    func testALaterJoinMovesShardsOnlyToTheNewcomer() {
        var v = view("n1")
        v.update(member("n2")); v.update(member("n3"))
        let before = v.placement
        XCTAssertTrue(v.update(member("a0", joinedAt: 5)), "a late joiner sorts last whatever its name")
        let moves = RingDiff.moves(from: before, to: v.placement)
        XCTAssertFalse(moves.isEmpty)
        for move in moves where move.primaryChanged {
            XCTAssertEqual(move.to.first, "a0", "shard \(move.shard) moved between unchanged nodes")
        }
        XCTAssertLessThanOrEqual(moves.filter(\.primaryChanged).count, Int(1.1 * 256.0 / 4.0) + 1)
    }

    func testDeadMembersKeepTheirRingPositionsUntilTheyLeave() {
        var v = view("n1")
        v.update(member("n2"))
        let led = v.placement.shardsLed(by: "n2")
        XCTAssertFalse(v.update(member("n2", .dead)), "death does not change the ring")
        XCTAssertFalse(v.isAlive("n2"))
        XCTAssertEqual(v.placement.primary(shard: led[0]), "n2", "its shards stay placed on it (replicas stand in)")
        XCTAssertTrue(v.update(member("n2", .left)), "a graceful leave does")
        XCTAssertEqual(v.placement.primary(shard: led[0]), "n1")
    }
}
