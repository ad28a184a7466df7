import XCTest
@testable import Cluster

final class MainLoopWatchdogTests: XCTestCase {
    func testBusyLoopThatStillTurnsKeepsGossiping() {
        var watchdog = MainLoopWatchdog(stallMs: 5_000, pokeAfterMs: 1_000)
        // Turns 900 ms apart, for a minute: slow, never wedged.
        var lastTurn: Int64 = 0
        for now in stride(from: Int64(0), through: 60_000, by: 250) {
            if now % 900 < 250 { lastTurn = now }
            XCTAssertEqual(watchdog.check(now: now, lastTurnEndMs: lastTurn), .none, "at \(now) ms")
        }
        XCTAssertFalse(watchdog.isPaused)
    }

    func testQuietLoopIsPokedBeforeItCountsAsStalled() {
        var watchdog = MainLoopWatchdog(stallMs: 5_000, pokeAfterMs: 1_000)
        XCTAssertEqual(watchdog.check(now: 999, lastTurnEndMs: 0), .none)
        XCTAssertEqual(watchdog.check(now: 1_000, lastTurnEndMs: 0), .poke)
        XCTAssertEqual(watchdog.check(now: 4_999, lastTurnEndMs: 0), .poke)
        XCTAssertFalse(watchdog.isPaused)
    }

    func testWedgedLoopSilencesGossipUntilItTurnsAgain() {
        var watchdog = MainLoopWatchdog(stallMs: 5_000, pokeAfterMs: 1_000)
        XCTAssertEqual(watchdog.check(now: 5_000, lastTurnEndMs: 0), .pause(stalledForMs: 5_000))
        XCTAssertTrue(watchdog.isPaused)
        XCTAssertEqual(watchdog.check(now: 30_000, lastTurnEndMs: 0), .poke, "still wedged: keep poking, stay silent")
        XCTAssertTrue(watchdog.isPaused)
        XCTAssertEqual(watchdog.check(now: 31_000, lastTurnEndMs: 30_900), .resume(pausedForMs: 26_000))
        XCTAssertFalse(watchdog.isPaused)
        XCTAssertEqual(watchdog.check(now: 31_250, lastTurnEndMs: 31_200), .none)
        // Wedged again: silenced again.
        XCTAssertEqual(watchdog.check(now: 36_200, lastTurnEndMs: 31_200), .pause(stalledForMs: 5_000))
    }
}
