import Net
import Peer
import Wire
import XCTest

final class HandshakeRefusalTests: XCTestCase {
    /// Two nodes that cannot authenticate each other dial both ways; returns each side's
    /// refusal log and each direction's request result.
    private func refuseBothWays(
        n1Cluster: String = "test-cluster", n1Secret: String = "change-me",
        n2Cluster: String = "test-cluster", n2Secret: String = "change-me"
    ) throws -> (n1: [String], n2: [String], results: [String: Result<[UInt8], PeerError>], handled: Int) {
        let loop = try makeLoop()
        let n1 = try makeNode(loop, "n1", cluster: n1Cluster, secret: n1Secret)
        let n2 = try makeNode(loop, "n2", cluster: n2Cluster, secret: n2Secret)
        introduce(n1, to: n2)
        introduce(n2, to: n1)
        var refusals: [String: [String]] = [:]
        n1.onRefused = { refusals["n1", default: []].append($0) }
        n2.onRefused = { refusals["n2", default: []].append($0) }
        var handled = 0
        for node in [n1, n2] {
            node.onRequest = { _, _, _, respond in
                handled += 1
                respond(.success([]))
            }
        }
        var results: [String: Result<[UInt8], PeerError>] = [:]
        n1.request("n2", operation: 1, payload: []) {
            results["n1->n2"] = $0
            if results.count == 2 { loop.stop() }
        }
        n2.request("n1", operation: 1, payload: []) {
            results["n2->n1"] = $0
            if results.count == 2 { loop.stop() }
        }
        runLoop(loop)
        XCTAssertEqual(n1.connectedPeers(), [])
        XCTAssertEqual(n2.connectedPeers(), [])
        return (refusals["n1"] ?? [], refusals["n2"] ?? [], results, handled)
    }

    func testNodeWithTheWrongSecretIsRefusedInBothDirections() throws {
        let outcome = try refuseBothWays(n1Secret: "alpha", n2Secret: "beta")
        XCTAssertEqual(outcome.results["n1->n2"], .failure(.unreachable))
        XCTAssertEqual(outcome.results["n2->n1"], .failure(.unreachable))
        XCTAssertEqual(outcome.handled, 0)
        // Each node refuses the other's dial and hears the other refuse its own.
        XCTAssertEqual(outcome.n1.filter { $0.contains("authentication") }.count, 2, "\(outcome.n1)")
        XCTAssertEqual(outcome.n2.filter { $0.contains("authentication") }.count, 2, "\(outcome.n2)")
    }

    func testNodeOfAnotherClusterIsRefused() throws {
        let outcome = try refuseBothWays(n2Cluster: "other-cluster")
        XCTAssertEqual(outcome.results["n1->n2"], .failure(.unreachable))
        XCTAssertEqual(outcome.results["n2->n1"], .failure(.unreachable))
        XCTAssertEqual(outcome.handled, 0)
        XCTAssertTrue(outcome.n1.contains { $0.contains("cluster 'other-cluster'") }, "\(outcome.n1)")
        XCTAssertTrue(outcome.n2.contains { $0.contains("cluster 'test-cluster'") }, "\(outcome.n2)")
    }

    func testSilentConnectionIsRefusedWithGoAwayAfterTheHandshakeTimeout() throws {
        let loop = try makeLoop()
        let n1 = try makeNode(loop, "n1") { $0.handshakeTimeoutMs = 100 }
        var refusals: [String] = []
        n1.onRefused = { refusals.append($0) }
        var decoder = PeerFrameDecoder()
        var frames: [PeerFrame] = []
        var closedAfterMs: Int64 = -1
        let start = loop.monotonicMs
        var client: TCPConnection?
        loop.connectTCP(host: testHost, port: n1.listeningPort ?? 0) { result in
            guard case .success(let tcp) = result else { return XCTFail("connect: \(result)") }
            client = tcp
            tcp.onRead = { bytes in
                decoder.feed(bytes)
                while let frame = try? decoder.next() { frames.append(frame) }
            }
            tcp.onClose = { _ in
                closedAfterMs = loop.monotonicMs - start
                loop.stop()
            }
        }
        runLoop(loop)
        XCTAssertNotNil(client)
        XCTAssertGreaterThanOrEqual(closedAfterMs, 100)
        XCTAssertEqual(frames.count, 1)
        XCTAssertEqual(frames.first.flatMap { try? PeerGoAway(frame: $0) }?.code, .handshakeTimeout)
        XCTAssertEqual(refusals.count, 1)
        XCTAssertTrue(refusals.first?.contains("timed out") ?? false, "\(refusals)")
    }

    func testGarbageOnThePeerPortIsRefusedAsAProtocolError() throws {
        let loop = try makeLoop()
        let n1 = try makeNode(loop, "n1")
        var refusals: [String] = []
        n1.onRefused = { refusals.append($0) }
        var received: [UInt8] = []
        loop.connectTCP(host: testHost, port: n1.listeningPort ?? 0) { result in
            guard case .success(let tcp) = result else { return XCTFail("connect: \(result)") }
            tcp.onRead = { received += $0 }
            tcp.onClose = { _ in loop.stop() }
            tcp.write(Array("GET / HTTP/1.1\r\nHost: x\r\n\r\n".utf8))
        }
        runLoop(loop)
        var decoder = PeerFrameDecoder()
        decoder.feed(received)
        let goAway = (try? decoder.next()).flatMap { $0 }.flatMap { try? PeerGoAway(frame: $0) }
        XCTAssertEqual(goAway?.code, .protocolError)
        XCTAssertEqual(refusals.count, 1)
        XCTAssertTrue(refusals.first?.contains("bad frame") ?? false, "\(refusals)")
    }
}
