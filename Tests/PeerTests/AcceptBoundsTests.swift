import Glibc
import Net
@testable import Peer
import Wire
import XCTest

/// Raw TCP connections that never say a word: the idle-connection storm of issue 8.
final class IdleStorm {
    let source: String
    let port: Int
    private(set) var fds: [Int32] = []
    private(set) var opened = 0

    init(from source: String, to port: Int) {
        self.source = source
        self.port = port
    }

    /// Opens `count` connections from `source` (a blocking connect on loopback completes in
    /// the listener's backlog, before the node accepts), keeping at most `keep` open.
    func open(_ count: Int, keep: Int = .max) {
        for _ in 0..<count {
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            guard fd >= 0 else { return XCTFail("socket: errno \(errno)") }
            var local = sockaddr_in()
            local.sin_family = sa_family_t(AF_INET)
            inet_pton(AF_INET, source, &local.sin_addr)
            var remote = sockaddr_in()
            remote.sin_family = sa_family_t(AF_INET)
            remote.sin_port = UInt16(port).bigEndian
            inet_pton(AF_INET, testHost, &remote.sin_addr)
            let ok = withUnsafePointer(to: &local) { l in
                l.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
            } && withUnsafePointer(to: &remote) { r in
                r.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
            }
            guard ok else {
                close(fd)
                return XCTFail("connect from \(source): errno \(errno)")
            }
            fds.append(fd)
            opened += 1
            while fds.count > keep { close(fds.removeFirst()) }
        }
    }

    func stop() {
        fds.forEach { close($0) }
        fds.removeAll()
    }
}

final class AcceptBoundsTests: XCTestCase {
    /// Runs `storm.open(perTick)` every `tickMs` while the loop runs.
    private func churn(_ storm: IdleStorm, _ loop: EventLoop, perTick: Int, tickMs: Int64, keep: Int) {
        var tick: (() -> Void)!
        tick = { [weak loop] in
            storm.open(perTick, keep: keep)
            loop?.schedule(afterMs: tickMs) { tick() }
        }
        loop.schedule(afterMs: 0) { tick() }
        addTeardownBlock { tick = {}; storm.stop() }
    }

    func testChurningIdleConnectionsFromAnotherAddressDoNotKeepARealPeerOut() throws {
        let loop = try makeLoop()
        let n1 = try makeNode(loop, "n1") { $0.maxHandshakingConnections = 16 }
        let n2 = try makeNode(loop, "n2")
        introduce(n2, to: n1)  // n2 dials n1; n1 does not know n2's address, nothing is exempt
        n1.onRequest = { _, _, payload, respond in respond(.success(payload)) }
        var maxHandshaking = 0
        n1.onRefused = { _ in maxHandshaking = max(maxHandshaking, n1.handshakingConnections) }
        // 2,500 connections a second, each left open for a while: a hundred times the probe's rate.
        let storm = IdleStorm(from: "127.0.0.2", to: n1.listeningPort ?? 0)
        churn(storm, loop, perTick: 5, tickMs: 2, keep: 400)
        var result: Result<[UInt8], PeerError>?
        loop.schedule(afterMs: 300) {
            n2.request("n1", operation: 1, payload: [42], timeoutMs: 2_000) {
                result = $0
                loop.stop()
            }
        }
        runLoop(loop)
        XCTAssertEqual(result, .success([42]), "storm of \(storm.opened) connections; stats \(n1.stats)")
        XCTAssertEqual(n2.connectedPeers(), ["n1"])
        XCTAssertGreaterThan(n1.stats.acceptsRateLimited, 0, "\(n1.stats)")
        XCTAssertGreaterThan(n1.stats.handshakesEvicted, 0, "\(n1.stats)")
        XCTAssertLessThanOrEqual(n1.handshakingConnections, 16)
        XCTAssertLessThanOrEqual(maxHandshaking, 16)
    }

    func testIdleConnectionsFromThePeersOwnAddressAreEvictedOldestFirstSoTheRealPeerGetsIn() throws {
        let loop = try makeLoop()
        let n1 = try makeNode(loop, "n1") { $0.maxHandshakingConnections = 16 }
        let n2 = try makeNode(loop, "n2")
        introduce(n2, to: n1)
        introduce(n1, to: n2)  // 127.0.0.1 is a known peer's address: exempt from the accept rate
        n1.onRequest = { _, _, payload, respond in respond(.success(payload)) }
        // 200 idle connections first, each holding its slot until the 5 s handshake timeout if
        // nothing evicted it: refusing the newest instead would keep n2 out for 5 s.
        let storm = IdleStorm(from: testHost, to: n1.listeningPort ?? 0)
        storm.open(200)
        churn(storm, loop, perTick: 5, tickMs: 10, keep: 1_000)
        var result: Result<[UInt8], PeerError>?
        loop.schedule(afterMs: 100) {
            n2.request("n1", operation: 1, payload: [7], timeoutMs: 2_000) {
                result = $0
                loop.stop()
            }
        }
        runLoop(loop)
        XCTAssertEqual(result, .success([7]), "stats \(n1.stats)")
        XCTAssertEqual(n1.stats.acceptsRateLimited, 0, "a known peer's address is never rate-limited")
        XCTAssertGreaterThanOrEqual(n1.stats.handshakesEvicted, 200 - 16, "\(n1.stats)")
        XCTAssertLessThanOrEqual(n1.handshakingConnections, 16)
    }

    func testEstablishedPeersDoNotCountAgainstTheHandshakingBound() throws {
        let loop = try makeLoop()
        let n1 = try makeNode(loop, "n1") { $0.maxHandshakingConnections = 1 }
        let peers = try (2...4).map { try makeNode(loop, "n\($0)") }
        n1.onRequest = { _, _, payload, respond in respond(.success(payload)) }
        var answered = 0
        // One after another: each holds the single handshaking slot only until it is established.
        func next(_ i: Int) {
            guard i < peers.count else { return loop.stop() }
            introduce(peers[i], to: n1)
            peers[i].request("n1", operation: 1, payload: [UInt8(i)]) { result in
                if case .success = result { answered += 1 }
                next(i + 1)
            }
        }
        next(0)
        runLoop(loop)
        XCTAssertEqual(answered, 3)
        XCTAssertEqual(n1.handshakingConnections, 0)
        XCTAssertEqual(n1.stats.handshakesEvicted, 0)
        XCTAssertEqual(peers.map { $0.connectedPeers() }, [["n1"], ["n1"], ["n1"]])
    }

    func testRefusalLogWritesOneLinePerKindPerIntervalAndReportsWhatItHeldBack() throws {
        let loop = try makeLoop()
        let n1 = try makeNode(loop, "n1") {
            $0.handshakeTimeoutMs = 100
            $0.refusalLogIntervalMs = 400
        }
        var refusals = 0
        var lines: [String] = []
        n1.onRefused = { _ in refusals += 1 }
        n1.onRefusedLog = { line in
            lines.append(line)
            if line.contains("held back") { loop.stop() }
        }
        let storm = IdleStorm(from: testHost, to: n1.listeningPort ?? 0)
        addTeardownBlock { storm.stop() }
        storm.open(30)
        runLoop(loop)
        XCTAssertEqual(refusals, 30, "every refusal still reaches onRefused")
        XCTAssertEqual(lines.count, 2, "\(lines)")
        XCTAssertTrue(lines.first?.contains("timed out") ?? false, "\(lines)")
        XCTAssertTrue(lines.last?.hasPrefix("29 more inbound timeout lines held back") ?? false, "\(lines)")
        XCTAssertEqual(n1.stats.refusalLogLinesSuppressed, 29)
        XCTAssertEqual(n1.stats.refusedHandshakes, 30)
    }
}

/// The accept bounds' rules, time passed in by hand.
final class AcceptGateTests: XCTestCase {
    typealias Gate = AcceptGate<Int>
    let settings = Gate.Settings(maxHandshaking: 4, ratePerSecond: 50, burst: 100, maxAddresses: 3)

    func testEachAddressHasItsOwnBucketOfFiftyASecondWithABurstOfAHundred() {
        var gate = Gate(settings: settings)
        XCTAssertEqual((0..<150).filter { _ in gate.admitRate(address: "a", exempt: false, nowMs: 0) }.count, 100)
        XCTAssertTrue(gate.admitRate(address: "b", exempt: false, nowMs: 0), "another address is not affected")
        XCTAssertTrue(gate.admitRate(address: "a", exempt: true, nowMs: 0), "a known peer's address is exempt")
        XCTAssertFalse(gate.admitRate(address: "a", exempt: false, nowMs: 19))
        XCTAssertTrue(gate.admitRate(address: "a", exempt: false, nowMs: 20), "one token every 20 ms")
        XCTAssertEqual((0..<150).filter { _ in gate.admitRate(address: "a", exempt: false, nowMs: 1_020) }.count, 50, "a second later, 50 more")
    }

    func testAtMostMaxAddressesBucketsAreKeptForgettingRefilledOnesThenTheFullest() {
        var gate = Gate(settings: settings)
        for _ in 0..<100 { _ = gate.admitRate(address: "busy", exempt: false, nowMs: 0) }
        _ = gate.admitRate(address: "x", exempt: false, nowMs: 0)  // 99 tokens left
        for _ in 0..<50 { _ = gate.admitRate(address: "y", exempt: false, nowMs: 0) }  // 50 left
        _ = gate.admitRate(address: "z", exempt: false, nowMs: 0)  // full: none refilled, x is fullest
        XCTAssertEqual(gate.trackedAddresses, 3)
        XCTAssertFalse(gate.admitRate(address: "busy", exempt: false, nowMs: 0), "the empty bucket was kept")
        XCTAssertEqual((0..<100).filter { _ in gate.admitRate(address: "y", exempt: false, nowMs: 0) }.count, 50)
        _ = gate.admitRate(address: "w", exempt: false, nowMs: 10_000)  // every bucket has refilled
        XCTAssertEqual(gate.trackedAddresses, 1)
    }

    func testWhenFullTheOldestConnectionOfTheBusiestAddressIsEvicted() {
        var gate = Gate(settings: settings)
        XCTAssertNil(gate.handshakeStarted(1, address: "peer"))
        XCTAssertNil(gate.handshakeStarted(2, address: "storm"))
        XCTAssertNil(gate.handshakeStarted(3, address: "storm"))
        XCTAssertNil(gate.handshakeStarted(4, address: "storm"))
        XCTAssertEqual(gate.handshakeStarted(5, address: "other"), 2, "the storm's oldest, not the peer's older one")
        XCTAssertEqual(gate.handshakeStarted(6, address: "storm"), 3)
        gate.handshakeEnded(4)
        gate.handshakeEnded(6)
        XCTAssertEqual(gate.handshakingCount, 2)
        XCTAssertNil(gate.handshakeStarted(7, address: "x"))
        XCTAssertNil(gate.handshakeStarted(8, address: "y"))
        XCTAssertEqual(gate.handshakeStarted(9, address: "z"), 1, "all tied at one: the oldest overall")
    }
}

final class RateLimitedLogTests: XCTestCase {
    func testOneLinePerKindPerIntervalThenTheCountWithTheNextLine() {
        var log = RateLimitedLog(intervalMs: 10_000, maxKinds: 8)
        XCTAssertEqual(log.admit(kind: "timeout", "t1", nowMs: 0), "t1")
        XCTAssertNil(log.admit(kind: "timeout", "t2", nowMs: 1))
        XCTAssertNil(log.admit(kind: "timeout", "t3", nowMs: 9_999))
        XCTAssertEqual(log.admit(kind: "authentication", "a1", nowMs: 5), "a1", "kinds are limited separately")
        XCTAssertEqual(log.nextFlushMs, 10_000)
        XCTAssertEqual(log.admit(kind: "timeout", "t4", nowMs: 10_000), "t4 (2 more timeout lines held back before this)")
        XCTAssertEqual(log.suppressedTotal, 2)
        XCTAssertNil(log.nextFlushMs)
    }

    func testFlushReportsHeldBackLinesWhenTheStormStops() {
        var log = RateLimitedLog(intervalMs: 10_000, maxKinds: 8)
        _ = log.admit(kind: "timeout", "t1", nowMs: 0)
        for i in 1...4_999 { XCTAssertNil(log.admit(kind: "timeout", "t", nowMs: Int64(i))) }
        XCTAssertEqual(log.flush(nowMs: 9_000), [])
        XCTAssertEqual(log.flush(nowMs: 10_000), ["4999 more timeout lines held back in the last 10 s"])
        XCTAssertEqual(log.flush(nowMs: 20_000), [])
        XCTAssertEqual(log.flush(nowMs: 30_000), [], "an idle kind is forgotten")
        XCTAssertEqual(log.admit(kind: "timeout", "again", nowMs: 30_001), "again")
    }

    func testKindsBeyondTheBoundShareOneKind() {
        var log = RateLimitedLog(intervalMs: 10_000, maxKinds: 3)
        XCTAssertEqual(log.admit(kind: "a", "a", nowMs: 0), "a")
        XCTAssertEqual(log.admit(kind: "b", "b", nowMs: 0), "b")
        XCTAssertEqual(log.admit(kind: "c", "c", nowMs: 0), "c", "the first kind past the bound opens 'other'")
        XCTAssertNil(log.admit(kind: "d", "d", nowMs: 0))
        XCTAssertNil(log.admit(kind: "e", "e", nowMs: 0))
        XCTAssertEqual(log.flush(nowMs: 10_000), ["2 more other lines held back in the last 10 s"])
    }
}
