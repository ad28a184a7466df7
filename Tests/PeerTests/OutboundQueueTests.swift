@testable import Peer
import XCTest

final class OutboundQueueTests: XCTestCase {
    private func request(_ byte: UInt8) -> OutboundMessage {
        OutboundMessage(operation: 1, payload: [byte], reply: { _ in })
    }

    private func oneway(_ byte: UInt8) -> OutboundMessage {
        OutboundMessage(operation: 2, payload: [byte], reply: nil)
    }

    func testMessagesLeaveInOrderAndOnlyRequestsExpire() {
        var queue = OutboundQueue(maxMessages: 10)
        XCTAssertTrue(queue.append(request(0), deadlineNanos: 100))
        XCTAssertTrue(queue.append(oneway(1), deadlineNanos: OutboundQueue.noDeadlineNanos))
        XCTAssertTrue(queue.append(request(2), deadlineNanos: 300))
        XCTAssertEqual(queue.byteCount, 3 * 21)
        XCTAssertEqual(queue.nextDeadlineNanos(), 100)
        XCTAssertEqual(queue.expire(nowNanos: 100).map(\.payload), [[0]])
        XCTAssertEqual(queue.front()?.payload, [1])
        XCTAssertEqual(queue.popFront()?.message.payload, [1])
        let last = queue.popFront()
        XCTAssertEqual(last?.message.payload, [2])
        XCTAssertEqual(last?.deadlineNanos, 300)
        XCTAssertNil(queue.popFront())
        XCTAssertEqual(queue.byteCount, 0)
        XCTAssertNil(queue.nextDeadlineNanos())
    }

    func testQueueRefusesPastItsMessageBound() {
        var queue = OutboundQueue(maxMessages: 2)
        XCTAssertTrue(queue.append(request(0), deadlineNanos: 1))
        XCTAssertTrue(queue.append(oneway(1), deadlineNanos: OutboundQueue.noDeadlineNanos))
        XCTAssertFalse(queue.append(request(2), deadlineNanos: 1))
        XCTAssertEqual(queue.removeAll().map(\.payload), [[0], [1]])
        XCTAssertTrue(queue.isEmpty)
        XCTAssertTrue(queue.append(request(3), deadlineNanos: 1))
    }

    func testCompactingExpiredRequestsKeepsLiveMessages() {
        var queue = OutboundQueue(maxMessages: 100_000)
        XCTAssertTrue(queue.append(oneway(9), deadlineNanos: OutboundQueue.noDeadlineNanos))
        for round in 0..<50 {
            for _ in 0..<1_000 { _ = queue.append(request(0), deadlineNanos: UInt64(round)) }
            _ = queue.expire(nowNanos: UInt64(round))
        }
        XCTAssertEqual(queue.count, 1)
        XCTAssertEqual(queue.popFront()?.message.payload, [9])
    }
}

final class PeerAddressTests: XCTestCase {
    func testParsesHostAndPortAndRefusesTheRest() {
        XCTAssertEqual(PeerAddress("127.0.0.1:7101"), PeerAddress(host: "127.0.0.1", port: 7101))
        XCTAssertEqual(PeerAddress("[::1]:7101")?.host, "::1")
        for bad in ["127.0.0.1", ":7101", "127.0.0.1:0", "127.0.0.1:70000", "127.0.0.1:x", ""] {
            XCTAssertNil(PeerAddress(bad), bad)
        }
    }
}
