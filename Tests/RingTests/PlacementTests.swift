import Hashing
import XCTest
@testable import Ring

final class PlacementTests: XCTestCase {
    func testPlacementDependsOnTheSetNotTheOrderOfIds() {
        var random = SeededRandom(seed: 11)
        let names = randomNodeNames(10, &random)
        let placement = Placement(nodes: names, shardCount: 256, replication: 2)
        let shuffled = Placement(nodes: names.shuffled(using: &random) + [names[3]], shardCount: 256, replication: 2)
        XCTAssertEqual(placement, shuffled)
        XCTAssertEqual(placement.nodes, names.sorted())
    }

    func testOneNodeClusterOwnsEveryShard() {
        for replication in 1...3 {
            let placement = Placement(nodes: ["solo"], shardCount: 128, replication: replication)
            XCTAssertEqual(placement.shardsLed(by: "solo"), Array(0..<128))
            XCTAssertEqual(placement.shardsHeld(by: "solo"), Array(0..<128))
            XCTAssertEqual(placement.preferenceList(shard: 77), ["solo"])
        }
    }

    func testEmptyClusterAndOutOfRangeShardsHaveNoHolders() {
        let empty = Placement(nodes: [], shardCount: 64, replication: 2)
        XCTAssertNil(empty.primary(shard: 0))
        XCTAssertEqual(empty.preferenceList(shard: 0), [])
        let placement = Placement(nodes: ["a", "b"], shardCount: 64, replication: 2)
        XCTAssertNil(placement.primary(shard: 64))
        XCTAssertNil(placement.primary(shard: -1))
        XCTAssertEqual(placement.preferenceList(shard: 1_000), [])
        XCTAssertEqual(placement.shardsLed(by: "stranger"), [])
    }

    func testPreferenceListsHoldMinOfRAndNDistinctNodes() {
        var random = SeededRandom(seed: 12)
        for replication in 1...3 {
            for nodeCount in [1, 2, 3, 4, 7, 20] {
                let placement = Placement(
                    nodes: randomNodeNames(nodeCount, &random), shardCount: 256, replication: replication)
                for shard in 0..<256 {
                    let list = placement.preferenceList(shard: shard)
                    XCTAssertEqual(list.count, min(replication, nodeCount), "R=\(replication) N=\(nodeCount)")
                    XCTAssertEqual(Set(list).count, list.count, "duplicate in \(list)")
                    XCTAssertEqual(placement.primary(shard: shard), list.first)
                }
            }
        }
    }

    func testLedAndHeldShardsAgreeWithPreferenceLists() {
        let placement = Placement(nodes: ["a", "b", "c", "d"], shardCount: 64, replication: 3)
        for node in placement.nodes {
            XCTAssertEqual(placement.shardsLed(by: node), (0..<64).filter { placement.primary(shard: $0) == node })
            XCTAssertEqual(
                placement.shardsHeld(by: node), (0..<64).filter { placement.preferenceList(shard: $0).contains(node) })
        }
        XCTAssertEqual(placement.nodes.map { placement.shardsHeld(by: $0).count }.reduce(0, +), 64 * 3)
    }

    /// The target: primaries per node max/mean <= 1.05 wherever ceil(S/N)/mean allows it;
    /// always at most ceil(S/N), the best possible. Held copies at most one above ceil(S*R/N).
    func testPrimariesAndCopiesAreBalancedFrom3To50Nodes() {
        var random = SeededRandom(seed: 13)
        for shards in [256, 1_024] {
            for nodeCount in [3, 5, 10, 20, 50] {
                for replication in [1, 2, 3] {
                    let placement = Placement(
                        nodes: randomNodeNames(nodeCount, &random), shardCount: shards, replication: replication)
                    let balance = Balance(placement)
                    let context = "S=\(shards) N=\(nodeCount) R=\(replication)"
                    XCTAssertLessThanOrEqual(balance.maxLed, (shards + nodeCount - 1) / nodeCount, context)
                    if balance.idealLedRatio <= 1.05 {
                        XCTAssertLessThanOrEqual(balance.ledRatio, 1.05, context)
                    }
                    let copies = shards * min(replication, nodeCount)
                    XCTAssertLessThanOrEqual(balance.maxHeld, (copies + nodeCount - 1) / nodeCount + 1, context)
                    if shards == 1_024 {
                        XCTAssertLessThanOrEqual(balance.heldRatio, 1.05, context)
                    }
                }
            }
        }
    }

    func testDefaultShardCountMeetsTheBalanceTargetAt50Nodes() {
        let shards = ShardMap.defaultShardCount
        XCTAssertLessThanOrEqual(Double((shards + 49) / 50) / (Double(shards) / 50), 1.05)
    }
}

final class ReceivedPlacementTests: XCTestCase {
    func testPlacementRebuiltFromItsPreferenceListsIsEqual() throws {
        let placement = Placement(nodes: ["a", "b", "c"], shardCount: 64, replication: 2)
        let lists = (0..<64).map { placement.preferenceList(shard: $0) }
        let received = try Placement(nodes: ["c", "b", "a"], shardCount: 64, replication: 2, preferenceLists: lists)
        XCTAssertEqual(received, placement)
        XCTAssertEqual(received.adding("d"), placement.adding("d"))
    }

    func testMalformedReceivedPlacementIsRefused() {
        let good = Array(repeating: ["a", "b"], count: 4)
        func attempt(_ lists: [[String]], shards: Int = 4, replication: Int = 2) -> RingError? {
            do {
                _ = try Placement(nodes: ["a", "b"], shardCount: shards, replication: replication, preferenceLists: lists)
                return nil
            } catch { return error }
        }
        XCTAssertNil(attempt(good))
        XCTAssertEqual(attempt(good, shards: 3), .shardCountNotPowerOfTwo(3))
        XCTAssertEqual(attempt(good, replication: 0), .replicationOutOfRange(0))
        XCTAssertEqual(attempt(Array(good.prefix(3))), .wrongPreferenceListCount(3))
        XCTAssertEqual(attempt([["a", "b"], ["a", "a"], ["a", "b"], ["a", "b"]]), .invalidPreferenceList(shard: 1))
        XCTAssertEqual(attempt([["a", "b"], ["a", "b"], ["a", "x"], ["a", "b"]]), .invalidPreferenceList(shard: 2))
        XCTAssertEqual(attempt([["a", "b"], ["a", "b"], ["a", "b"], ["b"]]), .invalidPreferenceList(shard: 3))
    }
}
