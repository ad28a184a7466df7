import Hashing
import XCTest
@testable import Ring

/// A join moves at most 1.1 x the ideal share S/N (new N) of primaries, every change goes TO the
/// joiner, and a leave changes only the leaver's shards. Checked over many cluster sizes, shard
/// counts, replication factors and random names from fixed seeds.
final class MovementTests: XCTestCase {
    /// Asserts the join from `before` to `after` (which added `joiner`) moved only to the joiner.
    private func assertJoinMovesOnlyToJoiner(
        _ before: Placement, _ after: Placement, joiner: String, _ context: String
    ) {
        let moves = RingDiff.moves(from: before, to: after)
        for move in moves {
            XCTAssertEqual(move.gained.filter { $0 != joiner }, [], "\(context): \(move)")
            XCTAssertTrue(move.to.contains(joiner), "\(context): changed without the joiner: \(move)")
            if move.primaryChanged {
                XCTAssertEqual(move.to.first, joiner, "\(context): primary moved between old nodes: \(move)")
            }
            // Everyone but the joiner keeps its relative order: no role moves between old nodes.
            XCTAssertEqual(move.to.filter { $0 != joiner }, move.from.filter { move.to.contains($0) }, "\(context)")
            XCTAssertLessThanOrEqual(move.lost.count, 1, "\(context): \(move)")
        }
        let nodeCount = Double(after.nodes.count)
        let primaryMoves = moves.filter(\.primaryChanged).count
        XCTAssertLessThanOrEqual(Double(primaryMoves), 1.1 * Double(after.shardCount) / nodeCount, context)
    }

    private func assertLeaveMovesOnlyLeaversShards(
        _ before: Placement, _ after: Placement, leaver: String, _ context: String
    ) {
        let moves = RingDiff.moves(from: before, to: after)
        for move in moves {
            XCTAssertTrue(move.from.contains(leaver), "\(context): shard without the leaver changed: \(move)")
            XCTAssertEqual(move.lost, [leaver], "\(context): \(move)")
            if move.primaryChanged {
                XCTAssertEqual(move.from.first, leaver, "\(context): primary moved between staying nodes: \(move)")
            }
        }
        XCTAssertEqual(moves.count, before.shardsHeld(by: leaver).count, context)
    }

    func testJoinMovesOnlyToTheNewNodeAndAboutTheIdealShare() {
        var random = SeededRandom(seed: 21)
        for shards in [64, 256, 1_024] {
            for replication in 1...3 {
                for nodeCount in [0, 1, 2, 3, 4, 7, 10, 16, 33, 49] {
                    let names = randomNodeNames(nodeCount + 1, &random)
                    let before = Placement(nodes: Array(names.dropLast()), shardCount: shards, replication: replication)
                    let after = before.adding(names[nodeCount])
                    let context = "seed 21 S=\(shards) R=\(replication) N=\(nodeCount)+1"
                    assertJoinMovesOnlyToJoiner(before, after, joiner: names[nodeCount], context)
                    let balance = Balance(after)
                    XCTAssertLessThanOrEqual(balance.maxLed, (shards + nodeCount) / (nodeCount + 1), context)
                }
            }
        }
    }

    func testLeaveMovesOnlyTheLeaversShards() {
        var random = SeededRandom(seed: 22)
        for shards in [64, 256, 1_024] {
            for replication in 1...3 {
                for nodeCount in [1, 2, 3, 4, 5, 10, 17, 50] {
                    let names = randomNodeNames(nodeCount, &random)
                    let before = Placement(nodes: names, shardCount: shards, replication: replication)
                    let leaver = names[Int(random.next() % UInt64(nodeCount))]
                    let after = before.removing(leaver)
                    let context = "seed 22 S=\(shards) R=\(replication) N=\(nodeCount)-1"
                    assertLeaveMovesOnlyLeaversShards(before, after, leaver: leaver, context)
                    if nodeCount > 1 {
                        let balance = Balance(after)
                        XCTAssertLessThanOrEqual(balance.maxLed, (shards + nodeCount - 2) / (nodeCount - 1), context)
                    }
                }
            }
        }
    }

    /// A long life of joins and leaves stays balanced and every step keeps the movement rules.
    func testChurnKeepsBalanceAndMinimalMovementAtEveryStep() {
        for seed: UInt64 in [31, 32, 33] {
            var random = SeededRandom(seed: seed)
            var placement = Placement(nodes: randomNodeNames(5, &random), shardCount: 512, replication: 2)
            for step in 0..<40 {
                let context = "seed \(seed) step \(step) N=\(placement.nodes.count)"
                let joins = placement.nodes.count < 3 || (placement.nodes.count < 30 && random.next() % 3 != 0)
                let next: Placement
                if joins {
                    let joiner = randomNodeNames(1, &random)[0]
                    next = placement.adding(joiner)
                    assertJoinMovesOnlyToJoiner(placement, next, joiner: joiner, context)
                } else {
                    let leaver = placement.nodes[Int(random.next() % UInt64(placement.nodes.count))]
                    next = placement.removing(leaver)
                    assertLeaveMovesOnlyLeaversShards(placement, next, leaver: leaver, context)
                }
                let balance = Balance(next)
                let nodeCount = next.nodes.count
                XCTAssertLessThanOrEqual(balance.maxLed, (512 + nodeCount - 1) / nodeCount, context)
                XCTAssertLessThanOrEqual(balance.maxHeld, (1_024 + nodeCount - 1) / nodeCount + 1, context)
                placement = next
            }
        }
    }

    func testRebalancedToTheSameSetChangesNothing() {
        let placement = Placement(nodes: ["a", "b", "c"], shardCount: 128, replication: 2)
        XCTAssertEqual(placement.rebalanced(to: ["c", "a", "b"]), placement)
        XCTAssertEqual(placement.adding("b"), placement)
        XCTAssertEqual(placement.removing("zed"), placement)
    }

    func testRebalancedIsAPureFunctionOfPlacementAndNewSet() {
        let placement = Placement(nodes: ["a", "b", "c", "d"], shardCount: 256, replication: 2)
        let one = placement.rebalanced(to: ["a", "c", "e", "f"])
        let two = placement.rebalanced(to: ["f", "e", "c", "a", "a"])
        XCTAssertEqual(one, two)
        XCTAssertEqual(one.nodes, ["a", "c", "e", "f"])
    }
}
