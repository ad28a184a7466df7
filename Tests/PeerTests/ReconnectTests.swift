import Net
import Peer
import XCTest

final class ReconnectTests: XCTestCase {
    func testPeerRestartFailsRequestsThenSucceedsAfterReconnect() throws {
        let loop = try makeLoop()
        let n1 = try makeNode(loop, "n1")
        var n2 = try makeNode(loop, "n2")
        let port = n2.listeningPort ?? 0
        introduce(n1, to: n2)
        var events: [String] = []
        n1.onPeerUp = { events.append("up \($0)") }
        n1.onPeerDown = { events.append("down \($0)") }
        var held: [(Result<[UInt8], PeerHandlerError>) -> Void] = []
        n2.onRequest = { _, _, payload, respond in
            guard payload == [1] else { return respond(.success(payload)) }
            held.append(respond)  // never answered: the node "crashes" first
            loop.schedule(afterMs: 0) { n2.close() }
        }
        var results: [Result<[UInt8], PeerError>] = []
        n1.request("n2", operation: 1, payload: [0]) { result in
            results.append(result)
            n1.request("n2", operation: 1, payload: [1]) { result in
                results.append(result)
                n1.request("n2", operation: 1, payload: [2]) { result in
                    results.append(result)
                    do {
                        n2 = try self.makeNode(loop, "n2", port: port)
                    } catch {
                        XCTFail("restart on port \(port): \(error)")
                        return loop.stop()
                    }
                    n2.onRequest = { _, _, payload, respond in respond(.success(payload)) }
                    n1.request("n2", operation: 1, payload: [3]) { result in
                        results.append(result)
                        loop.stop()
                    }
                }
            }
        }
        runLoop(loop, timeoutMs: 8_000)
        XCTAssertEqual(results, [.success([0]), .failure(.closed), .failure(.unreachable), .success([3])])
        XCTAssertEqual(events, ["up n2", "down n2", "up n2"])
        XCTAssertEqual(held.count, 1)
    }

    func testRemovedPeerFailsItsPendingRequestsAsClosed() throws {
        let loop = try makeLoop()
        let n1 = try makeNode(loop, "n1")
        let n2 = try makeNode(loop, "n2")
        introduce(n1, to: n2)
        var downs: [String] = []
        n1.onPeerDown = { downs.append($0) }
        var held: [(Result<[UInt8], PeerHandlerError>) -> Void] = []
        n2.onRequest = { _, _, _, respond in
            held.append(respond)
            n1.removePeer("n2")
        }
        var result: Result<[UInt8], PeerError>?
        n1.request("n2", operation: 1, payload: []) {
            result = $0
            loop.stop()
        }
        runLoop(loop)
        XCTAssertEqual(result, .failure(.closed))
        XCTAssertEqual(downs, ["n2"])
        XCTAssertEqual(n1.connectedPeers(), [])
        var afterRemoval: Result<[UInt8], PeerError>?
        n1.request("n2", operation: 1, payload: []) {
            afterRemoval = $0
            loop.stop()
        }
        runLoop(loop)
        XCTAssertEqual(afterRemoval, .failure(.unknownPeer))
    }

    func testRequestsToANodeNobodyListensOnFailAsUnreachableAfterTheDialAttempts() throws {
        let loop = try makeLoop()
        let n1 = try makeNode(loop, "n1") { $0.backoffMinMs = 10 }
        let gone = try makeNode(loop, "n2")
        introduce(n1, to: gone)
        gone.close()
        var result: Result<[UInt8], PeerError>?
        n1.request("n2", operation: 1, payload: []) {
            result = $0
            loop.stop()
        }
        runLoop(loop)
        XCTAssertEqual(result, .failure(.unreachable))
    }
}
