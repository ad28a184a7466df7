import Net
import Peer
import XCTest

final class RequestResponseTests: XCTestCase {
    func testRequestRoundTripsInBothDirections() throws {
        let loop = try makeLoop()
        let n1 = try makeNode(loop, "n1")
        let n2 = try makeNode(loop, "n2")
        introduce(n1, to: n2)
        introduce(n2, to: n1)
        for node in [n1, n2] {
            let me = node.settings.nodeID
            node.onRequest = { from, operation, payload, respond in
                respond(.success(Array("\(me) got op \(operation) from \(from): ".utf8) + payload))
            }
        }
        var answers: [String: Result<[UInt8], PeerError>] = [:]
        n1.request("n2", operation: 7, payload: Array("ping".utf8)) { result in
            answers["n1"] = result
            if answers.count == 2 { loop.stop() }
        }
        n2.request("n1", operation: 8, payload: Array("pong".utf8)) { result in
            answers["n2"] = result
            if answers.count == 2 { loop.stop() }
        }
        runLoop(loop)
        XCTAssertEqual(answers["n1"], .success(Array("n2 got op 7 from n1: ping".utf8)))
        XCTAssertEqual(answers["n2"], .success(Array("n1 got op 8 from n2: pong".utf8)))
        XCTAssertEqual(n1.connectedPeers(), ["n2"])
        XCTAssertEqual(n2.connectedPeers(), ["n1"])
    }

    func testTenThousandPipelinedRequestsAreAllAnsweredInFewWrites() throws {
        let loop = try makeLoop()
        let n1 = try makeNode(loop, "n1")
        let n2 = try makeNode(loop, "n2")
        introduce(n1, to: n2)
        var handled = 0
        n2.onRequest = { _, _, payload, respond in
            handled += 1
            respond(.success(payload))
        }
        let count = 10_000
        var matched = 0
        var wrong: [String] = []
        for index in 0..<count {
            let payload = indexPayload(index)
            n1.request("n2", operation: 1, payload: payload) { result in
                if result == .success(payload) { matched += 1 } else { wrong.append("\(index): \(result)") }
                if matched + wrong.count == count { loop.stop() }
            }
        }
        runLoop(loop, timeoutMs: 15_000)
        XCTAssertEqual(matched, count)
        XCTAssertEqual(wrong.prefix(3), [])
        XCTAssertEqual(handled, count)
        XCTAssertGreaterThanOrEqual(n1.stats.framesSent, count)
        XCTAssertGreaterThanOrEqual(n2.stats.framesSent, count)
        // One write per loop turn, not per frame.
        XCTAssertLessThan(n1.stats.flushes, count / 20, "requests: \(n1.stats)")
        XCTAssertLessThan(n2.stats.flushes, count / 20, "responses: \(n2.stats)")
        print("10,000 requests: \(n1.stats.flushes) request writes, \(n2.stats.flushes) response writes")
    }

    func testRemoteErrorArrivesAsRemote() throws {
        let loop = try makeLoop()
        let n1 = try makeNode(loop, "n1")
        let n2 = try makeNode(loop, "n2")
        introduce(n1, to: n2)
        n2.onRequest = { _, operation, _, respond in respond(.failure("no such room for op \(operation)")) }
        var result: Result<[UInt8], PeerError>?
        n1.request("n2", operation: 9, payload: []) {
            result = $0
            loop.stop()
        }
        runLoop(loop)
        XCTAssertEqual(result, .failure(.remote("no such room for op 9")))
    }

    func testAsyncHandlerAnswersEachCallerEvenOutOfOrder() throws {
        let loop = try makeLoop()
        let n1 = try makeNode(loop, "n1")
        let n2 = try makeNode(loop, "n2")
        introduce(n1, to: n2)
        var answerOrder: [Int] = []
        n2.onRequest = { _, _, payload, respond in
            let position = index(of: payload)
            // The first request is answered last.
            loop.schedule(afterMs: Int64(3 - position) * 30) {
                answerOrder.append(position)
                respond(.success(payload + payload))
            }
        }
        var results: [Int: Result<[UInt8], PeerError>] = [:]
        for position in 0..<3 {
            n1.request("n2", operation: 2, payload: indexPayload(position)) { result in
                results[position] = result
                if results.count == 3 { loop.stop() }
            }
        }
        runLoop(loop)
        XCTAssertEqual(answerOrder, [2, 1, 0])
        for position in 0..<3 {
            XCTAssertEqual(results[position], .success(indexPayload(position) + indexPayload(position)))
        }
    }

    func testRequestTimesOutWhenTheHandlerNeverAnswersAndTheLateAnswerIsDropped() throws {
        let loop = try makeLoop()
        let n1 = try makeNode(loop, "n1")
        let n2 = try makeNode(loop, "n2")
        introduce(n1, to: n2)
        var held: ((Result<[UInt8], PeerHandlerError>) -> Void)?
        n2.onRequest = { _, _, payload, respond in
            if payload == [0] { held = respond } else { respond(.success(Array("fresh".utf8))) }
        }
        var first: Result<[UInt8], PeerError>?
        var second: Result<[UInt8], PeerError>?
        var elapsedMs: Int64 = 0
        let start = loop.monotonicMs
        n1.request("n2", operation: 1, payload: [0], timeoutMs: 150) { result in
            elapsedMs = loop.monotonicMs - start
            first = result
            held?(.success(Array("late".utf8)))
            n1.request("n2", operation: 1, payload: [1]) {
                second = $0
                loop.stop()
            }
        }
        runLoop(loop)
        XCTAssertEqual(first, .failure(.timedOut))
        XCTAssertGreaterThanOrEqual(elapsedMs, 150)
        XCTAssertEqual(second, .success(Array("fresh".utf8)))
    }

    func testOnewaysArriveInOrderInterleavedWithRequests() throws {
        let loop = try makeLoop()
        let n1 = try makeNode(loop, "n1")
        let n2 = try makeNode(loop, "n2")
        introduce(n1, to: n2)
        var log: [String] = []
        n2.onMessage = { from, operation, payload in
            log.append("\(from) \(operation) \(index(of: payload))")
            if log.count == 1_001 { loop.stop() }
        }
        n2.onRequest = { from, operation, payload, respond in
            log.append("\(from) request \(operation) \(index(of: payload))")
            respond(.success([]))
            if log.count == 1_001 { loop.stop() }
        }
        for sequence in 0..<500 { n1.send("n2", operation: 3, payload: indexPayload(sequence)) }
        n1.request("n2", operation: 4, payload: indexPayload(500)) { XCTAssertEqual($0, .success([])) }
        for sequence in 500..<1_000 { n1.send("n2", operation: 3, payload: indexPayload(sequence)) }
        runLoop(loop)
        var expected = (0..<500).map { "n1 3 \($0)" }
        expected.append("n1 request 4 500")
        expected += (500..<1_000).map { "n1 3 \($0)" }
        XCTAssertEqual(log, expected)
        XCTAssertEqual(n1.stats.droppedMessages, 0)
    }

    func testAnswerGivenInALaterTurnEndHookGoesOutWithoutWaitingForAnotherEvent() throws {
        let loop = try makeLoop()
        let n1 = try makeNode(loop, "n1")
        let n2 = try makeNode(loop, "n2")
        introduce(n1, to: n2)
        // Like a group commit: answers are given in a turn-end hook registered after the
        // transports' own.
        var due: [(Result<[UInt8], PeerHandlerError>) -> Void] = []
        loop.addTurnEndHook {
            let answers = due
            due.removeAll()
            for answer in answers { answer(.success(Array("committed".utf8))) }
        }
        n2.onRequest = { _, _, _, respond in due.append(respond) }
        var result: Result<[UInt8], PeerError>?
        var elapsedMs: Int64 = -1
        n1.request("n2", operation: 1, payload: []) { _ in
            let start = loop.monotonicMs
            n1.request("n2", operation: 1, payload: []) {
                result = $0
                elapsedMs = loop.monotonicMs - start
                loop.stop()
            }
        }
        runLoop(loop)
        XCTAssertEqual(result, .success(Array("committed".utf8)))
        XCTAssertLessThan(elapsedMs, 100, "the idle connection's next event is a ping, 1 s away")
    }

    func testUnknownPeerFailsWithoutDialing() throws {
        let loop = try makeLoop()
        let n1 = try makeNode(loop, "n1")
        var result: Result<[UInt8], PeerError>?
        var calledInside = true
        n1.request("nobody", operation: 1, payload: []) {
            result = $0
            loop.stop()
        }
        calledInside = result != nil
        runLoop(loop)
        XCTAssertFalse(calledInside, "reply must not run inside request()")
        XCTAssertEqual(result, .failure(.unknownPeer))
    }
}
