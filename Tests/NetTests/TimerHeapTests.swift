import XCTest
@testable import Net

final class TimerHeapTests: XCTestCase {
    func testPopsInDeadlineThenSchedulingOrder() {
        var heap = TimerHeap()
        var expected: [TimerHeap.Entry] = []
        // A fixed linear congruential sequence: repeatable, with many equal deadlines.
        var state: UInt64 = 42
        for id in 0..<1_000 {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            let entry = TimerHeap.Entry(deadlineMs: Int64(state >> 54), id: UInt64(id))
            heap.push(entry)
            expected.append(entry)
        }
        expected.sort { $0.firesBefore($1) }
        var popped: [TimerHeap.Entry] = []
        while let entry = heap.popFirst() { popped.append(entry) }
        XCTAssertEqual(popped, expected)
    }

    func testRetainDropsEntriesAndKeepsOrder() {
        var heap = TimerHeap()
        for id in 0..<100 { heap.push(.init(deadlineMs: Int64(100 - id), id: UInt64(id))) }
        heap.retain { $0.id % 3 == 0 }
        var deadlines: [Int64] = []
        while let entry = heap.popFirst() { deadlines.append(entry.deadlineMs) }
        XCTAssertEqual(deadlines.count, 34)
        XCTAssertEqual(deadlines, deadlines.sorted())
    }
}
