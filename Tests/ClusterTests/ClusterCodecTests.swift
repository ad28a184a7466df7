import XCTest
@testable import Cluster
import Chat

final class ClusterCodecTests: XCTestCase {
    func testPayloadsRoundTrip() throws {
        let event = OutboundEvent(kind: .message(conversationID: "dm:a:b", seq: 9), text: "{\"type\":\"message\"}")
        let (decoded, users, except) = try ClusterCodec.decodePushEvent(
            ClusterCodec.pushEvent(event, users: ["alice", "bob"], except: ConnectionRef(node: "n2", id: 5)))
        XCTAssertEqual(decoded.kind, event.kind)
        XCTAssertEqual(decoded.text, event.text)
        XCTAssertEqual(users, ["alice", "bob"])
        XCTAssertEqual(except, ConnectionRef(node: "n2", id: 5))
        XCTAssertEqual(try ClusterCodec.decodePresence(ClusterCodec.presence(user: "bob", online: true)).1, true)
        XCTAssertEqual(try ClusterCodec.decodeShards(ClusterCodec.shards([0, 7, 255]), max: 256), [0, 7, 255])
        XCTAssertThrowsError(try ClusterCodec.decodeShards(ClusterCodec.shards([300]), max: 256))
        let holdings = try ClusterCodec.decodeHoldings(ClusterCodec.holdings([(3, true, "n1"), (4, false, "")]), max: 256)
        XCTAssertEqual(holdings.map(\.shard), [3, 4])
        XCTAssertEqual(holdings.map(\.held), [true, false])
        let chunk = try ClusterCodec.decodeChunkRequest(ClusterCodec.chunkRequest(shard: 3, offset: 1 << 40, length: 1 << 20))
        XCTAssertEqual(chunk.offset, 1 << 40)
        XCTAssertEqual(try ClusterCodec.decodeU64(ClusterCodec.u64(-1)), -1)
    }

    func testHostileBytesNeverTrap() {
        let random = SeededRandom(seed: 11)
        for _ in 0..<20_000 {
            let bytes = random.bytes(Int(random.next() % 48))
            _ = try? ClusterCodec.decodePushEvent(bytes)
            _ = try? ClusterCodec.decodePresence(bytes)
            _ = try? ClusterCodec.decodeStrings(bytes)
            _ = try? ClusterCodec.decodeLogout(bytes)
            _ = try? ClusterCodec.decodeShards(bytes, max: 65_536)
            _ = try? ClusterCodec.decodeHoldings(bytes, max: 65_536)
            _ = try? ClusterCodec.decodeChunkRequest(bytes)
            _ = try? ClusterCodec.decodeU64(bytes)
            _ = NodeMeta.decode(bytes)
        }
    }
}

final class OperationCodeSpaceTests: XCTestCase {
    /// Shard operations and the cluster's own share the peer links' operation numbers: a
    /// shard operation with a cluster operation's number would be taken for it and answered
    /// "malformed".
    func testShardOperationsDoNotReuseClusterOperationNumbers() {
        let cluster = Set(ClusterOp.allCases.map(\.rawValue))
        for type in Operations.all {
            XCTAssertFalse(cluster.contains(type.code.rawValue), "\(type) uses \(type.code.rawValue), a ClusterOp number")
        }
    }
}
