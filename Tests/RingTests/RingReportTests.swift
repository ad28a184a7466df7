import Hashing
import Foundation
import XCTest
@testable import Ring

/// Prints the table in docs/RING.md:
///   swift test --filter RingReportTests 2>&1 | grep '^|'
/// and asserts the targets on the same figures.
final class RingReportTests: XCTestCase {
    func testPrintsBalanceAndMovementTable() {
        let shards = ShardMap.defaultShardCount
        let replication = 2
        print("| N | primaries max/mean (ideal) | copies max/mean (ideal) | join: primaries moved (fraction) | ideal 1/(N+1) | join: copies moved | leave: primaries moved | recompute from scratch: primaries moved, of which between unchanged nodes |")
        print("|---|---|---|---|---|---|---|---|")
        var random = SeededRandom(seed: 41)
        for nodeCount in [3, 5, 10, 20, 50] {
            let names = randomNodeNames(nodeCount + 1, &random)
            let joiner = names[nodeCount]
            let before = Placement(nodes: Array(names.prefix(nodeCount)), shardCount: shards, replication: replication)
            let balance = Balance(before)
            let joined = before.adding(joiner)
            let joinMoves = RingDiff.moves(from: before, to: joined)
            let primaryMoves = joinMoves.filter(\.primaryChanged).count
            let copyMoves = joinMoves.map(\.gained.count).reduce(0, +)
            let leaveMoves = RingDiff.moves(from: before, to: before.removing(names[0])).filter(\.primaryChanged).count
            let scratch = Placement(nodes: names, shardCount: shards, replication: replication)
            let scratchMoves = RingDiff.moves(from: before, to: scratch).filter(\.primaryChanged)
            let crossMoves = scratchMoves.filter { $0.to.first != joiner }.count
            let ideal = 1.0 / Double(nodeCount + 1)
            let fraction = Double(primaryMoves) / Double(shards)
            print(
                "| \(nodeCount) | \(f(balance.ledRatio)) (\(f(balance.idealLedRatio))) | "
                    + "\(f(balance.heldRatio)) (\(f(balance.idealHeldRatio))) | "
                    + "\(primaryMoves) (\(f(fraction))) | \(f(ideal)) | \(copyMoves) | \(leaveMoves) | "
                    + "\(scratchMoves.count), \(crossMoves) |")
            XCTAssertLessThanOrEqual(balance.ledRatio, 1.05, "N=\(nodeCount)")
            XCTAssertLessThanOrEqual(balance.heldRatio, 1.05, "N=\(nodeCount)")
            XCTAssertLessThanOrEqual(fraction, 1.1 * ideal, "N=\(nodeCount)")
            XCTAssertEqual(leaveMoves, before.shardsLed(by: names[0]).count, "N=\(nodeCount)")
        }
    }

    private func f(_ value: Double) -> String { String(format: "%.3f", value) }
}
