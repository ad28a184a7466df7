import XCTest
@testable import RelayBench

final class LatencyHistogramTests: XCTestCase {
    func testSmallValuesAreExact() {
        var h = LatencyHistogram()
        for v in 1...100 as ClosedRange<UInt64> { h.record(v) }
        XCTAssertEqual(h.percentile(50), 50)
        XCTAssertEqual(h.percentile(99), 99)
        XCTAssertEqual(h.percentile(100), 100)
        XCTAssertEqual(h.min, 1)
        XCTAssertEqual(h.mean, 50.5)
    }

    func testLargeValuesStayWithinOneSixtyFourth() {
        for v: UInt64 in [128, 1_000, 12_345, 999_999, 123_456_789_012, UInt64.max / 3] {
            var h = LatencyHistogram()
            h.record(v)
            h.record(v / 2)
            let p = h.percentile(100)
            XCTAssertGreaterThanOrEqual(p, v)
            let low = h.percentile(50)
            XCTAssertGreaterThanOrEqual(low, v / 2)
            XCTAssertLessThanOrEqual(Double(low - v / 2), Double(v / 2) / 64 + 1)
        }
    }

    func testBucketsAreContiguousAndBoundsMonotonic() {
        var previous: UInt64 = 0
        for index in 1..<LatencyHistogram.bucketCount {
            let bound = LatencyHistogram.upperBound(of: index)
            XCTAssertGreaterThan(bound, previous, "bucket \(index)")
            XCTAssertEqual(LatencyHistogram.bucket(of: bound), index)
            previous = bound
        }
        XCTAssertEqual(LatencyHistogram.bucket(of: .max), LatencyHistogram.bucketCount - 1)
    }

    func testEmptyHistogramReportsZero() {
        XCTAssertEqual(LatencyHistogram().percentile(99), 0)
    }
}

final class HTTPReplyParserTests: XCTestCase {
    private func feed(_ parser: inout HTTPReplyParser, _ text: String) {
        Array(text.utf8).withUnsafeBytes { parser.feed($0) }
    }

    func testTwoKeepAliveRepliesSplitAnywhere() throws {
        let wire = "HTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\n{}HTTP/1.1 204 No Content\r\n\r\n"
        var parser = HTTPReplyParser()
        var replies: [HTTPReply] = []
        for byte in wire.utf8 {
            [byte].withUnsafeBytes { parser.feed($0) }
            while let reply = try parser.next() { replies.append(reply) }
        }
        XCTAssertEqual(replies.map(\.status), [201, 204])
        XCTAssertEqual(replies[0].body, Array("{}".utf8))
        XCTAssertEqual(replies[1].body, [])
    }

    func testChunkedReplyIsRefused() {
        var parser = HTTPReplyParser()
        feed(&parser, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
        XCTAssertThrowsError(try parser.next())
    }

    func testOversizedHeadIsRefused() {
        var parser = HTTPReplyParser()
        feed(&parser, "HTTP/1.1 200 OK\r\nX: " + String(repeating: "a", count: HTTPReplyParser.maxHeadBytes))
        XCTAssertThrowsError(try parser.next())
    }

    func testMalformedStatusLineIsRefused() {
        var parser = HTTPReplyParser()
        feed(&parser, "HTTP/1.1 abc\r\nContent-Length: 0\r\n\r\n")
        XCTAssertThrowsError(try parser.next())
    }
}

final class EndpointTests: XCTestCase {
    func testNodeListParsesAndRejectsBadEntries() {
        XCTAssertEqual(Endpoint.list("127.0.0.1:7501,127.0.0.1:7511")?.map(\.port), [7501, 7511])
        XCTAssertNil(Endpoint.list("127.0.0.1:7501,nope"))
        XCTAssertNil(Endpoint.list("127.0.0.1:0"))
    }

    func testDirectConversationIdOrdersByBytes() {
        XCTAssertEqual(BenchNames.directConversation("bob", "alice"), "dm:alice:bob")
    }
}

final class GroupEventTests: XCTestCase {
    func testMessageFieldsAreReadAndNestedEscapedKeysIgnored() {
        let text = #"{"type":"message","conversation_id":"grp:ab12","seq":42,"message_id":"m_1","sender":"bx-m0","client_id":"c17","ts":1,"kind":"text","body":"{\"seq\":9,\"type\":\"ack\"}","attachments":[],"tip":null}"#
        XCTAssertEqual(GroupEvent.scan(text), GroupEvent(type: "message", conversationID: "grp:ab12", sender: "bx-m0", clientID: "c17", kind: "text", seq: 42))
        XCTAssertEqual(GroupEvent.messageIndex("c17"), 17)
        XCTAssertNil(GroupEvent.messageIndex("x17"))
        XCTAssertNil(GroupEvent.messageIndex(nil))
    }

    func testJoinedSeqIsNotSeqAndEscapedValuesReadAsNil() {
        let text = #"{"joined_seq":3, "type": "message","sender":"a\"b","seq": 7}"#
        let event = GroupEvent.scan(text)
        XCTAssertEqual(event.type, "message")
        XCTAssertEqual(event.seq, 7)
        XCTAssertNil(event.sender)
    }

    func testErrorAndAck() {
        XCTAssertEqual(GroupEvent.scan(#"{"type":"error","code":"unavailable","message":"m","client_id":"c3","retry_after_ms":250}"#),
                       GroupEvent(type: "error", clientID: "c3", code: "unavailable", retryAfterMs: 250))
        XCTAssertEqual(GroupEvent.scan(#"{"type":"ack","client_id":"c0","conversation_id":"grp:x","seq":2,"message_id":"m","ts":5}"#),
                       GroupEvent(type: "ack", conversationID: "grp:x", clientID: "c0", seq: 2))
        XCTAssertEqual(GroupEvent.scan("not json"), GroupEvent())
    }
}

final class GroupLedgerTests: XCTestCase {
    func testMessagesAreSplitOverSendersAfterTheWarmup() {
        let ledger = GroupLedger(members: 4, senders: 3, warmup: 2, messages: 10)
        XCTAssertEqual(ledger.firstOfSender, [0, 6, 9])
        XCTAssertEqual(ledger.countOfSender, [6, 3, 3])
        XCTAssertEqual((0..<ledger.total).map(ledger.sender(of:)), [0, 0, 0, 0, 0, 0, 1, 1, 1, 2, 2, 2])
        XCTAssertTrue(ledger.isWarmup(1))
        XCTAssertFalse(ledger.isWarmup(2))
    }

    func testOutstandingCountsDeliveriesOwedForAckedMessages() {
        let ledger = GroupLedger(members: 3, senders: 1, warmup: 0, messages: 2)
        ledger.noteDelivery(0)              // before its ack
        XCTAssertEqual(ledger.outstanding, 0)
        ledger.noteAck(0, seq: 5)
        XCTAssertEqual(ledger.outstanding, 1)
        ledger.noteDelivery(0)
        XCTAssertEqual(ledger.outstanding, 0)
        ledger.noteAck(1, seq: 6)
        XCTAssertEqual(ledger.lost(in: 0..<2), 2)
    }
}

final class BenchOptionsTests: XCTestCase {
    func testSeveralPIDs() throws {
        XCTAssertEqual(try BenchOptions(["--pid", "12,13,14"], known: ["pid"]).pids(), [12, 13, 14])
        XCTAssertEqual(try BenchOptions([], known: ["pid"]).pids(), [])
        XCTAssertThrowsError(try BenchOptions(["--pid", "12,,14"], known: ["pid"]).pids())
        XCTAssertThrowsError(try BenchOptions(["--pid", "12,x"], known: ["pid"]).pids())
    }
}
