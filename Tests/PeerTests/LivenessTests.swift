import Net
import Peer
import Wire
import XCTest

final class LivenessTests: XCTestCase {
    func testPingsKeepAnIdleConnectionOpen() throws {
        let loop = try makeLoop()
        let fast: (inout PeerSettings) -> Void = {
            $0.pingIntervalMs = 30
            $0.deadConnectionTimeoutMs = 150
        }
        let n1 = try makeNode(loop, "n1", configure: fast)
        let n2 = try makeNode(loop, "n2", configure: fast)
        introduce(n1, to: n2)
        n2.onRequest = { _, _, _, respond in respond(.success([])) }
        var downs: [String] = []
        n1.onPeerDown = { downs.append($0) }
        n1.request("n2", operation: 1, payload: []) { _ in
            loop.schedule(afterMs: 600) { loop.stop() }  // four dead-connection timeouts of idleness
        }
        runLoop(loop)
        XCTAssertEqual(downs, [])
        XCTAssertEqual(n1.connectedPeers(), ["n2"])
        XCTAssertEqual(n1.stats.deadConnectionsClosed + n2.stats.deadConnectionsClosed, 0)
    }

    func testSilentPeerIsDisconnectedAfterTheDeadConnectionTimeout() throws {
        let loop = try makeLoop()
        // A fake n2 that completes the handshake and then never sends another byte.
        var handshake = try PeerHandshake(
            responding: .init(clusterName: "test-cluster", localNodeId: "n2", sharedSecret: Array("change-me".utf8)),
            nonce: systemRandom(32))
        var decoder = PeerFrameDecoder(maxPayloadBytes: PeerFrameLimits.maxHandshakePayloadBytes)
        var accepted: [TCPConnection] = []
        let listener = try loop.listenTCP(host: testHost, port: 0) { tcp in
            accepted.append(tcp)
            tcp.onRead = { bytes in
                decoder.feed(bytes)
                while let frame = try? decoder.next() {
                    switch handshake.receive(frame) {
                    case .send(let reply), .established(_, _, let reply?):
                        tcp.write((try? PeerFrameEncoder.encode(reply)) ?? [])
                    default:
                        break
                    }
                }
            }
        }
        let n1 = try makeNode(loop, "n1") {
            $0.pingIntervalMs = 30
            $0.deadConnectionTimeoutMs = 150
        }
        n1.setPeer("n2", address: "\(testHost):\(listener.port)")
        var upAt: Int64 = 0
        var downAfterMs: Int64 = -1
        n1.onPeerUp = { _ in upAt = loop.monotonicMs }
        n1.onPeerDown = { _ in
            downAfterMs = loop.monotonicMs - upAt
            loop.stop()
        }
        var result: Result<[UInt8], PeerError>?
        n1.request("n2", operation: 1, payload: [], timeoutMs: 10_000) { result = $0 }
        runLoop(loop)
        XCTAssertTrue(handshake.isEstablished)
        XCTAssertGreaterThanOrEqual(downAfterMs, 150)
        XCTAssertEqual(n1.stats.deadConnectionsClosed, 1)
        XCTAssertEqual(accepted.count, 1)
        // The request on the dead connection fails as closed (reported in the next turn).
        loop.schedule(afterMs: 1) { loop.stop() }
        runLoop(loop)
        XCTAssertEqual(result, .failure(.closed))
        listener.close()
    }
}
