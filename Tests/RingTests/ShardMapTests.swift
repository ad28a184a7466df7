import XCTest
@testable import Ring

final class ShardMapTests: XCTestCase {
    func testShardCountMustBeAPowerOfTwoInRange() throws {
        XCTAssertThrowsError(try ShardMap(shardCount: 100)) {
            XCTAssertEqual($0 as? RingError, .shardCountNotPowerOfTwo(100))
        }
        XCTAssertThrowsError(try ShardMap(shardCount: 0)) {
            XCTAssertEqual($0 as? RingError, .shardCountOutOfRange(0))
        }
        XCTAssertThrowsError(try ShardMap(shardCount: -4)) {
            XCTAssertEqual($0 as? RingError, .shardCountOutOfRange(-4))
        }
        XCTAssertThrowsError(try ShardMap(shardCount: 131_072)) {
            XCTAssertEqual($0 as? RingError, .shardCountOutOfRange(131_072))
        }
        for count in [1, 2, 128, 1_024, 65_536] {
            XCTAssertEqual(try ShardMap(shardCount: count).shardCount, count)
        }
    }

    func testShardIsTheLowBitsOfTheKeysXXH64() throws {
        let map = try ShardMap(shardCount: 1_024)
        // XXH64("user:alice") = 0x84918A738EB5FFD6; the low 10 bits are 0x3D6.
        XCTAssertEqual(map.shard(forKey: "user:alice"), 0x3D6)
        XCTAssertEqual(map.shard(forUser: "alice"), 0x3D6)
        XCTAssertEqual(map.shard(forConversation: "dm:alice:bob"), map.shard(forKey: "conv:dm:alice:bob"))
        XCTAssertEqual(try ShardMap(shardCount: 1).shard(forKey: "anything"), 0)
    }

    func testKeysSpreadEvenlyOverShards() throws {
        let map = try ShardMap(shardCount: 64)
        var counts = Array(repeating: 0, count: 64)
        for index in 0..<20_000 {
            counts[map.shard(forUser: "u\(index)")] += 1
        }
        // Mean 312.5, binomial standard deviation about 17.5: 25% over is more than 4 sigma.
        XCTAssertLessThan(Double(counts.max() ?? 0) / 312.5, 1.25)
        XCTAssertGreaterThan(Double(counts.min() ?? 0) / 312.5, 0.75)
    }
}
