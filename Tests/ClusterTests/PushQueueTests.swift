import XCTest
@testable import Chat
@testable import Cluster

/// The fan-out queue: a big push is served in slices per turn, pushes behind it wait, every
/// recipient gets every event once and in push order, and the waiting is bounded.
final class PushQueueTests: XCTestCase {
    func item(_ n: Int, users: Int) -> PushQueue.Item {
        PushQueue.Item(event: OutboundEvent(kind: .typing, text: "e\(n)"), users: (0..<users).map { "u\($0)" }[...],
                       except: nil, localOnly: false)
    }

    func testSmallPushesGoAtOnceAndBigOnesInSlicesInOrder() {
        var q = PushQueue(perTurn: 10)
        var got: [String: [String]] = [:]   // user -> events in the order delivered
        var deliveries: [Int] = []
        let deliver: (PushQueue.Item) -> Void = { item in
            deliveries.append(item.users.count)
            for u in item.users { got[u, default: []].append(item.event.text) }
        }
        XCTAssertEqual(q.add(item(1, users: 5), deliver: deliver), .delivered)
        XCTAssertEqual(q.add(item(2, users: 25), deliver: deliver), .startDraining)
        XCTAssertEqual(q.add(item(3, users: 3), deliver: deliver), .waiting)   // small, but behind a big one
        XCTAssertEqual(deliveries, [5])
        var turns = 0
        while q.drain(deliver: deliver) { turns += 1 }
        XCTAssertEqual(turns + 1, 3)                      // 28 waiting recipients, 10 per turn
        XCTAssertEqual(deliveries, [5, 10, 10, 5, 3])
        XCTAssertTrue(q.isEmpty)
        XCTAssertEqual(got["u0"], ["e1", "e2", "e3"])
        XCTAssertEqual(got["u24"], ["e2"])
        XCTAssertEqual(got.values.map(\.count).reduce(0, +), 5 + 25 + 3)
        XCTAssertEqual(q.add(item(4, users: 2), deliver: deliver), .delivered)
    }

    func testWaitingIsBounded() {
        var q = PushQueue(perTurn: 10, maxWaiting: 50)
        var delivered = 0
        let deliver: (PushQueue.Item) -> Void = { delivered += $0.users.count }
        for n in 0..<10 { _ = q.add(item(n, users: 20), deliver: deliver) }
        XCTAssertLessThanOrEqual(q.waitingRecipients, 50)
        XCTAssertEqual(delivered + q.waitingRecipients, 200)
        while q.drain(deliver: deliver) {}
        XCTAssertEqual(delivered, 200)
    }
}
