import Foundation
import Glibc
import XCTest
@testable import Net

final class EventLoopTests: XCTestCase {
    func testTimersFireInDeadlineOrderAndCancelledOnesNever() throws {
        let loop = try makeLoop()
        var fired: [String] = []
        let start = loop.monotonicMs
        loop.schedule(afterMs: 30) { fired.append("30") }
        loop.schedule(afterMs: 10) { fired.append("10a") }
        let cancelled = loop.schedule(afterMs: 20) { fired.append("cancelled") }
        loop.schedule(afterMs: 10) { fired.append("10b") }
        loop.schedule(afterMs: 0) { fired.append("0") }
        loop.schedule(afterMs: 40) {
            fired.append("40")
            loop.stop()
        }
        loop.cancel(cancelled)
        runLoop(loop)
        XCTAssertEqual(fired, ["0", "10a", "10b", "30", "40"])
        XCTAssertGreaterThanOrEqual(loop.monotonicMs - start, 40, "a timer fired early")
    }

    func testTimerScheduledFromATimerRunsInALaterTurn() throws {
        let loop = try makeLoop()
        var turns = 0
        loop.addTurnEndHook { turns += 1 }
        var firstTurn = -1
        var secondTurn = -1
        loop.schedule(afterMs: 0) {
            firstTurn = turns
            loop.schedule(afterMs: 0) {
                secondTurn = turns
                loop.stop()
            }
        }
        runLoop(loop)
        XCTAssertEqual(secondTurn, firstTurn + 1)
    }

    func testTurnEndHookRunsAfterTheTurnsTimersAndJobs() throws {
        let loop = try makeLoop()
        let log = LoopOnly<[String]>([])
        loop.addTurnEndHook {
            log.value.append("hook")
            loop.stop()
        }
        loop.schedule(afterMs: 0) { log.value.append("timer") }
        loop.execute { log.value.append("job") }
        runLoop(loop)
        XCTAssertEqual(log.value, ["timer", "job", "hook"])
    }

    func testExecuteFromOtherThreadsRunsEveryJobOnTheLoopInPostingOrder() throws {
        let loop = try makeLoop()
        let threads = 4
        let jobsPerThread = 250
        let lastSeen = LoopOnly([Int](repeating: -1, count: threads))
        let total = LoopOnly(0)
        let offLoopThread = LoopOnly(0)
        for thread in 0..<threads {
            Thread {
                for job in 0..<jobsPerThread {
                    loop.execute {
                        if !loop.inLoopThread { offLoopThread.value += 1 }
                        XCTAssertEqual(lastSeen.value[thread], job - 1, "jobs of one thread reordered")
                        lastSeen.value[thread] = job
                        total.value += 1
                        if total.value == threads * jobsPerThread { loop.stop() }
                    }
                }
            }.start()
        }
        runLoop(loop)
        XCTAssertEqual(total.value, threads * jobsPerThread)
        XCTAssertEqual(offLoopThread.value, 0)
    }

    func testStopFromAnotherThreadEndsRun() throws {
        let loop = try makeLoop()
        var turnsBeforeStop = 0
        loop.addTurnEndHook { turnsBeforeStop += 1 }
        // A far timer keeps epoll_wait blocked: only the eventfd wake-up can end the turn.
        loop.schedule(afterMs: 60_000) {}
        Thread { loop.stop() }.start()
        runLoop(loop)
        XCTAssertLessThanOrEqual(turnsBeforeStop, 2)
    }

    func testTerminateSignalIsDeliveredOnTheLoop() throws {
        let loop = try makeLoop()
        var delivered = false
        Signals.onTerminate(loop: loop) {
            delivered = loop.inLoopThread
            loop.stop()
        }
        defer {
            // Leave the test process killable by SIGTERM/SIGINT again.
            _ = signal(SIGTERM, SIG_DFL)
            _ = signal(SIGINT, SIG_DFL)
        }
        loop.schedule(afterMs: 0) { _ = raise(SIGTERM) }
        runLoop(loop)
        XCTAssertTrue(delivered)
    }
}
