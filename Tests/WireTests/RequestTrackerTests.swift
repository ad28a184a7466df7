import Wire
import XCTest

final class RequestTrackerTests: XCTestCase {
    func testIdsStartAtOneAndIncrease() throws {
        var tracker = RequestTracker<String>()
        let ids = try (0..<5).map { _ in try tracker.begin(deadlineNanos: 100, context: "x") }
        XCTAssertEqual(ids, [1, 2, 3, 4, 5])
    }

    func testCompleteReturnsTheContextOnce() throws {
        var tracker = RequestTracker<String>()
        let id = try tracker.begin(deadlineNanos: 100, context: "resume-me")
        XCTAssertEqual(tracker.complete(id)?.context, "resume-me")
        XCTAssertNil(tracker.complete(id), "a duplicate response finds nothing")
        XCTAssertNil(tracker.complete(999), "an id never sent finds nothing")
        XCTAssertEqual(tracker.inFlightCount, 0)
    }

    func testExpireReturnsOverdueRequestsEarliestFirst() throws {
        var tracker = RequestTracker<Int>()
        let late = try tracker.begin(deadlineNanos: 300, context: 3)
        let early = try tracker.begin(deadlineNanos: 100, context: 1)
        let middle = try tracker.begin(deadlineNanos: 200, context: 2)
        XCTAssertEqual(tracker.expire(nowNanos: 99).map(\.id), [])
        XCTAssertEqual(tracker.nextDeadlineNanos(), 100)
        XCTAssertEqual(tracker.expire(nowNanos: 200).map(\.id), [early, middle])
        XCTAssertEqual(tracker.inFlightCount, 1)
        XCTAssertEqual(tracker.nextDeadlineNanos(), 300)
        XCTAssertEqual(tracker.expire(nowNanos: 1_000).map(\.id), [late])
        XCTAssertNil(tracker.nextDeadlineNanos())
    }

    func testCompletedRequestNeverExpires() throws {
        var tracker = RequestTracker<Int>()
        let id = try tracker.begin(deadlineNanos: 100, context: 0)
        XCTAssertNotNil(tracker.complete(id))
        XCTAssertEqual(tracker.expire(nowNanos: 500).count, 0)
    }

    func testLateResponseAfterExpiryFindsNothing() throws {
        var tracker = RequestTracker<Int>()
        let id = try tracker.begin(deadlineNanos: 100, context: 0)
        XCTAssertEqual(tracker.expire(nowNanos: 100).map(\.id), [id])
        XCTAssertNil(tracker.complete(id))
    }

    func testMaxInFlightRefusesUntilAResponseFreesASlot() throws {
        var tracker = RequestTracker<Int>(maxInFlight: 3)
        let first = try tracker.begin(deadlineNanos: 10, context: 0)
        _ = try tracker.begin(deadlineNanos: 10, context: 0)
        _ = try tracker.begin(deadlineNanos: 10, context: 0)
        XCTAssertTrue(tracker.isFull)
        XCTAssertThrowsError(try tracker.begin(deadlineNanos: 10, context: 0)) {
            XCTAssertEqual($0 as? RequestTracker<Int>.BeginError, .full(maxInFlight: 3))
        }
        _ = tracker.complete(first)
        XCTAssertFalse(tracker.isFull)
        XCTAssertEqual(try tracker.begin(deadlineNanos: 10, context: 0), 4)
    }

    func testExpiryStaysCorrectAcrossHeapCompaction() throws {
        // Request/response churn with long deadlines: stale heap entries are compacted away,
        // and expiry still finds exactly the pending ones.
        var tracker = RequestTracker<Int>(maxInFlight: 8)
        var kept: [UInt64] = []
        for round in 0..<10_000 {
            let id = try tracker.begin(deadlineNanos: UInt64(1_000_000 + round), context: round)
            if round % 1000 == 0 { kept.append(id) } else { _ = tracker.complete(id) }
            if tracker.isFull { break }
        }
        XCTAssertEqual(tracker.expire(nowNanos: .max).map(\.id), kept)
    }

    func testFailAllEmptiesTheTrackerInIdOrder() throws {
        var tracker = RequestTracker<Int>()
        for deadline in [30, 10, 20] { _ = try tracker.begin(deadlineNanos: UInt64(deadline), context: deadline) }
        XCTAssertEqual(tracker.failAll().map(\.context), [30, 10, 20])
        XCTAssertEqual(tracker.inFlightCount, 0)
        XCTAssertEqual(tracker.expire(nowNanos: .max).count, 0)
    }
}
