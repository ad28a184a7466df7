import Net
import Peer
import XCTest

final class BackpressureTests: XCTestCase {
    func testRequestsOverTheQueueBoundFailFastAsOverloadedAndOnewaysAreDropped() throws {
        let loop = try makeLoop()
        // 1,000 bytes hold eight 120-byte frames (20-byte header + 100-byte payload).
        let n1 = try makeNode(loop, "n1") { $0.maxQueuedBytesPerPeer = 1_000 }
        let n2 = try makeNode(loop, "n2")
        introduce(n1, to: n2)
        n2.onRequest = { _, _, payload, respond in respond(.success(Array(payload.prefix(1)))) }
        var messages = 0
        n2.onMessage = { _, _, _ in messages += 1 }
        var results: [Int: Result<[UInt8], PeerError>] = [:]
        for position in 0..<20 {
            n1.request("n2", operation: 1, payload: [UInt8](repeating: UInt8(position), count: 100)) { result in
                results[position] = result
                if results.count == 20 { loop.stop() }
            }
        }
        n1.send("n2", operation: 2, payload: [UInt8](repeating: 0, count: 100))
        runLoop(loop)
        for position in 0..<8 { XCTAssertEqual(results[position], .success([UInt8(position)]), "\(position)") }
        for position in 8..<20 { XCTAssertEqual(results[position], .failure(.overloaded), "\(position)") }
        XCTAssertEqual(n1.stats.overloadedRequests, 12)
        XCTAssertEqual(n1.stats.droppedMessages, 1)
        XCTAssertEqual(messages, 0)
    }

    func testReadingPausesWhileTooManyRequestsAwaitAnswersAndResumesBelowHalf() throws {
        let loop = try makeLoop()
        let n1 = try makeNode(loop, "n1")
        let n2 = try makeNode(loop, "n2") { $0.maxUnansweredRequestsPerPeer = 10 }
        introduce(n1, to: n2)
        let total = 100
        var held: [(Result<[UInt8], PeerHandlerError>) -> Void] = []
        var mostHeld = 0
        var received = 0
        n2.onRequest = { _, _, payload, respond in
            received += 1
            held.append(respond)
            mostHeld = max(mostHeld, held.count)
            // Answer in bursts, later, once the transport stops handing out more (or all came).
            if held.count == 11 || received == total {
                loop.schedule(afterMs: 20) {
                    let due = held
                    held.removeAll()
                    for answer in due { answer(.success([])) }
                }
            }
        }
        var answered = 0
        for position in 0..<total {
            n1.request("n2", operation: 1, payload: indexPayload(position)) { result in
                XCTAssertEqual(result, .success([]))
                answered += 1
                if answered == total { loop.stop() }
            }
        }
        runLoop(loop)
        XCTAssertEqual(answered, total)
        XCTAssertEqual(mostHeld, 11, "reading pauses once more than 10 requests await answers")
    }
}
