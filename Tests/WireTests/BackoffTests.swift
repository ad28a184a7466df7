import Hashing
import Wire
import XCTest

final class BackoffTests: XCTestCase {
    func testCeilingDoublesFromMinimumUpToMaximum() {
        var backoff = Backoff(minDelayNanos: 100, maxDelayNanos: 1_000)
        var ceilings: [UInt64] = []
        for _ in 0..<7 {
            ceilings.append(backoff.ceilingNanos)
            _ = backoff.nextDelayNanos(jitter: 0.5)
        }
        XCTAssertEqual(ceilings, [100, 200, 400, 800, 1_000, 1_000, 1_000])
    }

    func testDelaysStayWithinMinimumAndCeilingForAnyJitter() {
        var rng = SplitMix64(seed: 7)
        for jitter in [0.0, 0.999_999, 1.0, -3, 42, .nan, .infinity] + (0..<200).map({ _ in Double.random(in: 0..<1, using: &rng) }) {
            var backoff = Backoff(minDelayNanos: 100_000_000, maxDelayNanos: 10_000_000_000)
            for _ in 0..<80 {
                let ceiling = backoff.ceilingNanos
                let delay = backoff.nextDelayNanos(jitter: jitter)
                XCTAssertGreaterThanOrEqual(delay, 100_000_000, "jitter \(jitter)")
                XCTAssertLessThanOrEqual(delay, ceiling, "jitter \(jitter)")
                XCTAssertLessThanOrEqual(delay, 10_000_000_000)
            }
        }
    }

    func testJitterSpreadsTheDelayAcrossTheWholeRange() {
        var backoff = Backoff(minDelayNanos: 0, maxDelayNanos: 1_000)
        for _ in 0..<10 { _ = backoff.nextDelayNanos(jitter: 0) }
        var low = backoff, high = backoff
        XCTAssertEqual(low.nextDelayNanos(jitter: 0), 0)
        XCTAssertEqual(high.nextDelayNanos(jitter: 0.999), 999)
    }

    func testResetStartsSmallAgain() {
        var backoff = Backoff(minDelayNanos: 100, maxDelayNanos: 10_000)
        for _ in 0..<10 { _ = backoff.nextDelayNanos(jitter: 1) }
        XCTAssertEqual(backoff.ceilingNanos, 10_000)
        backoff.reset()
        XCTAssertEqual(backoff.attempt, 0)
        XCTAssertEqual(backoff.nextDelayNanos(jitter: 1), 100)
    }

    func testHugeAttemptCountsDoNotOverflow() {
        var backoff = Backoff(minDelayNanos: UInt64.max / 2, maxDelayNanos: UInt64.max)
        for _ in 0..<200 { XCTAssertLessThanOrEqual(backoff.nextDelayNanos(jitter: 1), UInt64.max) }
        XCTAssertEqual(backoff.ceilingNanos, UInt64.max)

        var widest = Backoff(minDelayNanos: 0, maxDelayNanos: UInt64.max)
        for _ in 0..<70 { _ = widest.nextDelayNanos(jitter: 0.5) }
        XCTAssertEqual(widest.nextDelayNanos(jitter: 1), UInt64.max)
    }
}
