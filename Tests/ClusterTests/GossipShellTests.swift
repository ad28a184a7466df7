import Dispatch
import Foundation
import Gossip
import Net
import XCTest
@testable import Cluster

/// The real shell: gossip threads, UDP on loopback, member changes on a main loop.
final class GossipShellTests: XCTestCase {
    /// Faster probing than the defaults, so a death takes ~1 s instead of ~2.5 s.
    func settings() -> GossipSettings {
        var s = GossipSettings()
        s.probeIntervalMs = 100
        s.probeTimeoutMs = 50
        s.maxDatagramBytes = 1400 - GossipSeal.maxOverheadBytes
        return s
    }

    /// A UDP port that was free a moment ago (the member's address must be known before it binds).
    func freePort() throws -> Int {
        let loop = try EventLoop()
        defer { loop.shutdown() }
        let socket = try loop.bindUDP(host: "127.0.0.1", port: 0) { _, _ in }
        defer { socket.close() }
        return socket.port
    }

    func shell(_ name: String, port: Int, mainLoop: EventLoop, watchdog: MainLoopWatchdog = MainLoopWatchdog()) throws -> GossipShell {
        let swim = try SWIMInstance(me: MemberID(name: name, address: "127.0.0.1:\(port)"), meta: [], settings: settings(),
                                    seed: UInt64(port))
        let shell = try GossipShell(swim: swim, mainLoop: mainLoop, key: GossipSeal.key(cluster: "test", secret: "s3cret"),
                                    watchdog: watchdog)
        addTeardownBlock { shell.stop() }
        return shell
    }

    /// Runs `loop` on this thread until `done()` holds (checked every 20 ms), at most `timeoutMs`.
    func run(_ loop: EventLoop, timeoutMs: Int64 = 10_000, until done: @escaping () -> Bool,
             file: StaticString = #filePath, line: UInt = #line) {
        let deadline = loop.monotonicMs + timeoutMs
        var timedOut = false
        func check() {
            if done() { return loop.stop() }
            if loop.monotonicMs > deadline { timedOut = true; return loop.stop() }
            loop.schedule(afterMs: 20) { check() }
        }
        loop.schedule(afterMs: 0) { check() }
        loop.run()
        XCTAssertFalse(timedOut, "condition not reached within \(timeoutMs) ms", file: file, line: line)
    }

    func testTwoShellsGossipOnTheirOwnThreadsAndReportOnTheMainLoop() throws {
        let main = try EventLoop()
        addTeardownBlock { main.shutdown() }
        let (pa, pb) = (try freePort(), try freePort())
        let a = try shell("n1", port: pa, mainLoop: main)
        let b = try shell("n2", port: pb, mainLoop: main)
        var seenByA: [String: MemberStatus] = [:], seenByB: [String: MemberStatus] = [:]
        var offMainLoop = 0
        a.onMemberChanged = { member in
            if !main.inLoopThread || Thread.current.name == GossipShell.threadName { offMainLoop += 1 }
            seenByA[member.id.name] = member.status
        }
        b.onMemberChanged = { member in
            if !main.inLoopThread || Thread.current.name == GossipShell.threadName { offMainLoop += 1 }
            seenByB[member.id.name] = member.status
        }
        try a.start(host: "127.0.0.1", port: pa, seeds: [])
        try b.start(host: "127.0.0.1", port: pb, seeds: ["127.0.0.1:\(pa)"])
        XCTAssertEqual(a.boundAddress, "127.0.0.1:\(pa)")
        run(main) { seenByA["n2"] == .alive && seenByB["n1"] == .alive }
        XCTAssertEqual(offMainLoop, 0, "member changes are delivered on the main loop's thread")

        // With the main loop not running at all, the gossip threads keep probing each other.
        let acceptedBefore = a.counters.datagramsAccepted
        Thread.sleep(forTimeInterval: 0.5)
        XCTAssertGreaterThan(a.counters.datagramsAccepted, acceptedBefore + 2)
        XCTAssertEqual(a.counters.rejected, 0)
        XCTAssertEqual(b.counters.rejected, 0)
        XCTAssertGreaterThan(b.counters.datagramsSent, 0)

        // A graceful leave reaches the other side as "left".
        b.leave()
        run(main) { seenByA["n2"] == .left && seenByB["n2"] == .left }
        XCTAssertEqual(offMainLoop, 0)

        // Stopping ends the threads and frees the ports.
        XCTAssertTrue(b.stop())
        XCTAssertTrue(a.stop())
        let loop = try EventLoop()
        defer { loop.shutdown() }
        for port in [pa, pb] { try loop.bindUDP(host: "127.0.0.1", port: port) { _, _ in }.close() }
    }

    func testWedgedMainLoopSilencesGossipUntilItTurnsAgain() throws {
        let main = try EventLoop()
        addTeardownBlock { main.shutdown() }
        // a's main loop runs on a thread of its own, which the test then wedges. The shell is
        // made before that thread starts (it adds the heartbeat hook to the loop).
        let aMain = try EventLoop()
        let (pa, pb) = (try freePort(), try freePort())
        let a = try shell("n1", port: pa, mainLoop: aMain, watchdog: MainLoopWatchdog(stallMs: 400, pokeAfterMs: 100))
        let b = try shell("n2", port: pb, mainLoop: main)
        let aMainExited = DispatchSemaphore(value: 0)
        let aMainThread = Thread { aMain.run(); aMainExited.signal() }
        aMainThread.start()
        addTeardownBlock {
            aMain.stop()
            _ = aMainExited.wait(timeout: .now() + 5)
        }
        var history: [MemberStatus] = []
        b.onMemberChanged = { member in if member.id.name == "n1" { history.append(member.status) } }
        try a.start(host: "127.0.0.1", port: pa, seeds: [])
        try b.start(host: "127.0.0.1", port: pb, seeds: ["127.0.0.1:\(pa)"])
        run(main) { history.last == .alive }
        XCTAssertEqual(a.counters.pauses, 0)

        // Wedge a's main loop: a job that blocks it.
        let release = DispatchSemaphore(value: 0)
        aMain.execute { release.wait() }
        run(main) { history.last == .dead }
        XCTAssertTrue(a.counters.paused)
        XCTAssertEqual(a.counters.pauses, 1)
        XCTAssertGreaterThan(a.counters.droppedWhilePaused, 0, "b's probes went unanswered")

        // Unwedge it: a speaks again, learns it was declared dead, refutes.
        release.signal()
        run(main) { history.last == .alive }
        XCTAssertFalse(a.counters.paused)
        XCTAssertEqual(history.first, .alive)
        XCTAssertTrue(history.contains(.dead))
    }

    func testNodeWhoseMainLoopStallsLongerThanSuspicionButShorterThanTheBoundStaysAlive() throws {
        let main = try EventLoop()
        addTeardownBlock { main.shutdown() }
        let aMain = try EventLoop()
        let (pa, pb) = (try freePort(), try freePort())
        let a = try shell("n1", port: pa, mainLoop: aMain)
        let b = try shell("n2", port: pb, mainLoop: main)
        let aMainExited = DispatchSemaphore(value: 0)
        Thread { aMain.run(); aMainExited.signal() }.start()
        addTeardownBlock {
            aMain.stop()
            _ = aMainExited.wait(timeout: .now() + 5)
        }
        var history: [MemberStatus] = []
        b.onMemberChanged = { member in if member.id.name == "n1" { history.append(member.status) } }
        try a.start(host: "127.0.0.1", port: pa, seeds: [])
        try b.start(host: "127.0.0.1", port: pb, seeds: ["127.0.0.1:\(pa)"])
        run(main) { history.last == .alive }

        // a's main loop stalls 2.5 s: more than the ~1.05 s a silent member takes to be
        // declared dead with these settings, less than the watchdog's 5 s. Its gossip thread
        // keeps answering, so b never even suspects it (issue 8: a busy node is slow, not dead).
        aMain.execute { Thread.sleep(forTimeInterval: 2.5) }
        let until = main.monotonicMs + 3_000
        run(main) { main.monotonicMs >= until }
        XCTAssertEqual(history, [.alive])
        XCTAssertEqual(a.counters.pauses, 0)
    }

    func testIdleMainLoopIsNotMistakenForAWedgedOne() throws {
        let main = try EventLoop()
        addTeardownBlock { main.shutdown() }
        let port = try freePort()
        let a = try shell("n1", port: port, mainLoop: main, watchdog: MainLoopWatchdog(stallMs: 400, pokeAfterMs: 100))
        try a.start(host: "127.0.0.1", port: port, seeds: [])
        // Nothing due on the main loop for 1.5 s but the end of the run: only the pokes turn it.
        let started = main.monotonicMs
        main.schedule(afterMs: 1_500) { main.stop() }
        main.run()
        XCTAssertGreaterThanOrEqual(main.monotonicMs - started, 1_500)
        XCTAssertEqual(a.counters.pauses, 0)
    }
}
