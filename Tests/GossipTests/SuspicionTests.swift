@testable import Gossip
import XCTest

final class SuspicionTests: XCTestCase {
    func testTimeoutShrinksWithEachConfirmationDownToTheMinimum() {
        var s = Suspicion(startedAt: Instant(ms: 1_000), accuser: "a", minMs: 2_000, maxMs: 6_000, wanted: 3)
        XCTAssertEqual(s.deadline, Instant(ms: 7_000))
        var previous = s.deadline
        for accuser in ["b", "c", "d"] {
            XCTAssertTrue(s.confirm(by: accuser))
            XCTAssertLessThan(s.deadline, previous)
            previous = s.deadline
        }
        XCTAssertEqual(s.deadline, Instant(ms: 3_000))
        XCTAssertFalse(s.confirm(by: "e"), "no confirmation counts past k")
        // Lifeguard IV-B: log(c + 1) / log(k + 1) of the way from max to min.
        XCTAssertEqual(Suspicion.timeoutMs(confirmations: 1, wanted: 3, minMs: 2_000, maxMs: 6_000), 4_000)
    }

    func testTheSameAccuserCountsOnceAndTheFirstNotAtAll() {
        var s = Suspicion(startedAt: .zero, accuser: "a", minMs: 100, maxMs: 300, wanted: 2)
        XCTAssertFalse(s.confirm(by: "a"))
        XCTAssertTrue(s.confirm(by: "b"))
        XCTAssertFalse(s.confirm(by: "b"))
        XCTAssertEqual(s.confirmations, 1)
    }

    func testSmallClusterSuspicionUsesTheMinimumAtOnce() {
        let settings = GossipSettings()
        XCTAssertEqual(settings.confirmationsWanted(clusterSize: 3), 0)
        XCTAssertEqual(settings.confirmationsWanted(clusterSize: 5), settings.suspicionConfirmations)
        let s = Suspicion(startedAt: .zero, accuser: "a", minMs: 2_050, maxMs: 6_150, wanted: 0)
        XCTAssertEqual(s.deadline, Instant(ms: 2_050))
    }

    func testSuspicionTimeoutGrowsWithClusterSize() {
        let settings = GossipSettings()
        let sizes = [3, 10, 20, 100, 1_000]
        let minima = sizes.map { settings.suspicionMinMs(clusterSize: $0) }
        XCTAssertEqual(minima, minima.sorted())
        XCTAssertLessThan(minima[0], minima[4])
        XCTAssertEqual(settings.suspicionMinMs(clusterSize: 3), 2_050)
        XCTAssertEqual(settings.suspicionMinMs(clusterSize: 20), 2_150)
        XCTAssertEqual(settings.suspicionMaxMs(clusterSize: 20), 6_450)
    }

    func testHoldPostponesButNeverAdvancesTheDeadline() {
        var s = Suspicion(startedAt: .zero, accuser: "a", minMs: 100, maxMs: 100, wanted: 0)
        s.holdUntil(Instant(ms: 50))
        XCTAssertEqual(s.deadline, Instant(ms: 100))
        s.holdUntil(Instant(ms: 250))
        XCTAssertEqual(s.deadline, Instant(ms: 250))
    }

    func testLocalHealthScalesProbeTimesAndStaysBounded() {
        var health = LocalHealth(maxMultiplier: 8)
        XCTAssertEqual(health.scale(200), 200)
        health.apply(delta: 3)
        XCTAssertEqual(health.scale(200), 800)
        health.apply(delta: 100)
        XCTAssertEqual(health.score, 7)
        health.apply(delta: -100)
        XCTAssertEqual(health.score, 0)
    }

    func testBroadcastQueueSendsNewestLeastSentFirstAndRetiresAfterItsLimit() {
        var queue = BroadcastQueue()
        let a = MemberID(name: "a", address: "a:1"), b = MemberID(name: "b", address: "b:1")
        queue.enqueue(MemberUpdate(id: a, incarnation: 1, kind: .dead))
        queue.enqueue(MemberUpdate(id: b, incarnation: 1, kind: .dead))
        let first = queue.take(budgetBytes: 1_000, limit: 2)
        XCTAssertEqual(first.map { try? decodeUpdateID($0) }, [b, a])
        queue.enqueue(MemberUpdate(id: a, incarnation: 2, kind: .left))  // replaces a's entry
        XCTAssertEqual(queue.count, 2)
        XCTAssertEqual(queue.take(budgetBytes: 1_000, limit: 2).count, 2)  // b retires here
        XCTAssertEqual(queue.count, 1)
        XCTAssertEqual(queue.take(budgetBytes: 10, limit: 2).count, 0, "nothing fits in 10 bytes")
    }

    private func decodeUpdateID(_ bytes: [UInt8]) throws -> MemberID {
        let datagram = try GossipCodec.decode(GossipCodec.encode(.gossip, encodedUpdates: [bytes]))
        return datagram.updates[0].id
    }
}
