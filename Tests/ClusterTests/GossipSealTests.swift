import Hashing
import XCTest
@testable import Cluster

final class GossipSealTests: XCTestCase {
    let key = GossipSeal.key(cluster: "test", secret: "s3cret")
    let alice = "127.0.0.1:7201"
    let bob = "127.0.0.1:7202"
    let body = Array("a SWIM datagram".utf8)
    /// 2025-11-21, in ms: any realistic wall clock.
    let wallMs: Int64 = 1_763_700_000_000

    func testSealedDatagramOpensToItsBody() throws {
        var sender = GossipSeal(key: key, sender: alice)
        var receiver = GossipSeal(key: key, sender: bob)
        let datagram = sender.seal(body, wallClockMs: wallMs)
        XCTAssertEqual(datagram.count, body.count + sender.overheadBytes)
        XCTAssertLessThanOrEqual(sender.overheadBytes, GossipSeal.maxOverheadBytes)
        XCTAssertEqual(try receiver.open(datagram, from: alice), body)
    }

    func testLayoutIsTagFormatStampSenderBody() {
        var sender = GossipSeal(key: key, sender: alice)
        let datagram = sender.seal(body, wallClockMs: wallMs)
        XCTAssertEqual(datagram[16], 2, "envelope format")
        let stamp = datagram[17..<25].reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
        XCTAssertEqual(stamp, UInt64(wallMs) << 16)
        XCTAssertEqual(Int(datagram[25]), alice.utf8.count)
        XCTAssertEqual(Array(datagram[26..<(26 + alice.utf8.count)]), Array(alice.utf8))
        XCTAssertEqual(Array(datagram[(26 + alice.utf8.count)...]), body)
    }

    func testTamperedDatagramIsRefusedAsBadTag() {
        var sender = GossipSeal(key: key, sender: alice)
        let datagram = sender.seal(body, wallClockMs: wallMs)
        // Every single-byte change anywhere (tag, header, binding, body) is refused.
        for index in datagram.indices {
            var receiver = GossipSeal(key: key, sender: bob)
            var tampered = datagram
            tampered[index] ^= 0x01
            XCTAssertThrowsError(try receiver.open(tampered, from: alice), "byte \(index)") { error in
                XCTAssertEqual(error as? GossipSeal.Rejection, .badTag, "byte \(index)")
            }
        }
    }

    func testOtherKeysShortDatagramsAndOldFormatAreRefusedAsBadTag() {
        var sender = GossipSeal(key: key, sender: alice)
        var impostor = GossipSeal(key: GossipSeal.key(cluster: "test", secret: "guess"), sender: alice)
        var otherCluster = GossipSeal(key: GossipSeal.key(cluster: "other", secret: "s3cret"), sender: alice)
        var receiver = GossipSeal(key: key, sender: bob)
        let datagram = sender.seal(body, wallClockMs: wallMs)
        for bad in [impostor.seal(body, wallClockMs: wallMs), otherCluster.seal(body, wallClockMs: wallMs),
                    [], Array(datagram.prefix(25)), Array(datagram.prefix(30))] {
            XCTAssertThrowsError(try receiver.open(bad, from: alice)) { XCTAssertEqual($0 as? GossipSeal.Rejection, .badTag) }
        }
        // Format 1 (tag | body, no version byte) from a node not yet upgraded.
        let formatOne = Array(HMACTag.of(body, key: key)) + body
        XCTAssertThrowsError(try receiver.open(formatOne, from: alice)) { XCTAssertEqual($0 as? GossipSeal.Rejection, .badTag) }
        XCTAssertEqual(receiver.window.senderCount, 0, "nothing unauthenticated creates replay state")
    }

    func testAuthenticDatagramFromAnotherAddressIsRefusedAndDoesNotUseUpItsStamp() throws {
        var sender = GossipSeal(key: key, sender: alice)
        var receiver = GossipSeal(key: key, sender: bob)
        let datagram = sender.seal(body, wallClockMs: wallMs)
        for elsewhere in ["127.0.0.1:9999", "127.0.0.2:7201", "[::1]:7201", bob] {
            XCTAssertThrowsError(try receiver.open(datagram, from: elsewhere)) {
                XCTAssertEqual($0 as? GossipSeal.Rejection, .wrongSender)
            }
        }
        // The genuine datagram, arriving after the copies, is still accepted.
        XCTAssertEqual(try receiver.open(datagram, from: alice), body)
    }

    func testExactReplayIsRefused() throws {
        var sender = GossipSeal(key: key, sender: alice)
        var receiver = GossipSeal(key: key, sender: bob)
        let datagram = sender.seal(body, wallClockMs: wallMs)
        XCTAssertEqual(try receiver.open(datagram, from: alice), body)
        XCTAssertThrowsError(try receiver.open(datagram, from: alice)) { XCTAssertEqual($0 as? GossipSeal.Rejection, .duplicate) }
    }

    func testDatagramOlderThanTheWindowIsRefusedAsStale() throws {
        var sender = GossipSeal(key: key, sender: alice)
        var receiver = GossipSeal(key: key, sender: bob)
        let old = sender.seal(body, wallClockMs: wallMs)
        let new = sender.seal(body, wallClockMs: wallMs + 10_001)
        XCTAssertEqual(try receiver.open(new, from: alice), body)
        XCTAssertThrowsError(try receiver.open(old, from: alice)) { XCTAssertEqual($0 as? GossipSeal.Rejection, .stale) }
        // Just inside the window is still fine.
        var receiver2 = GossipSeal(key: key, sender: bob)
        var sender2 = GossipSeal(key: key, sender: alice)
        let recent = sender2.seal(body, wallClockMs: wallMs)
        let later = sender2.seal(body, wallClockMs: wallMs + 9_999)
        XCTAssertEqual(try receiver2.open(later, from: alice), body)
        XCTAssertEqual(try receiver2.open(recent, from: alice), body)
    }

    func testReorderingWithinTheWindowIsAcceptedOnceEach() throws {
        var sender = GossipSeal(key: key, sender: alice)
        var receiver = GossipSeal(key: key, sender: bob)
        let datagrams = (0..<50).map { sender.seal(body + [UInt8($0)], wallClockMs: wallMs + Int64($0) * 20) }
        var order = Array(datagrams.indices)
        var rng = SystemRandomNumberGenerator()
        order.shuffle(using: &rng)
        for i in order { XCTAssertEqual(try receiver.open(datagrams[i], from: alice), body + [UInt8(i)]) }
        for i in order {
            XCTAssertThrowsError(try receiver.open(datagrams[i], from: alice)) {
                XCTAssertEqual($0 as? GossipSeal.Rejection, .duplicate)
            }
        }
    }

    func testStampsRiseStrictlyEvenWhenTheClockStandsStillOrStepsBack() {
        var sender = GossipSeal(key: key, sender: alice)
        var last: UInt64 = 0
        for wall in [wallMs, wallMs, wallMs - 5_000, wallMs + 1, -1, 0] {
            let stamp = sender.nextStamp(wallClockMs: wall)
            XCTAssertGreaterThan(stamp, last)
            last = stamp
        }
        // A restarted process (a fresh seal) a millisecond later starts above all of them.
        var restarted = GossipSeal(key: key, sender: alice)
        XCTAssertGreaterThan(restarted.nextStamp(wallClockMs: wallMs + 2), last)
    }

    func testStampsFromDifferentSendersAreJudgedSeparately() throws {
        var a = GossipSeal(key: key, sender: alice)
        var b = GossipSeal(key: key, sender: bob)
        var receiver = GossipSeal(key: key, sender: "127.0.0.1:7203")
        // Bob's clock is a minute behind Alice's: no clock sync needed.
        XCTAssertEqual(try receiver.open(a.seal(body, wallClockMs: wallMs), from: alice), body)
        XCTAssertEqual(try receiver.open(b.seal(body, wallClockMs: wallMs - 60_000), from: bob), body)
        XCTAssertEqual(receiver.window.senderCount, 2)
    }
}

final class ReplayWindowTests: XCTestCase {
    func testStampsPerSenderStayWithinTheirBoundAndTheFloorOnlyRises() {
        var window = ReplayWindow(spanStamps: 1_000_000, maxStampsPerSender: 16, maxSenders: 4)
        for stamp in UInt64(1)...10_000 {
            XCTAssertEqual(window.admit(stamp: stamp * 10, from: "a"), .fresh)
            XCTAssertLessThanOrEqual(window.stampCount(of: "a"), 16)
        }
        XCTAssertEqual(window.stampCount(of: "a"), 16)
        // Forgotten to stay within the bound: refused as stale, never accepted again.
        XCTAssertEqual(window.admit(stamp: 99_840, from: "a"), .stale)
        XCTAssertEqual(window.admit(stamp: 99_845, from: "a"), .fresh, "unseen and above the floor")
        XCTAssertEqual(window.admit(stamp: 100_000, from: "a"), .duplicate)
    }

    func testWindowSpanRefusesWhatFallsBehindTheHighestStamp() {
        var window = ReplayWindow(spanStamps: 100, maxStampsPerSender: 1_000, maxSenders: 4)
        XCTAssertEqual(window.admit(stamp: 1_000, from: "a"), .fresh)
        XCTAssertEqual(window.admit(stamp: 901, from: "a"), .fresh, "within the span of the first stamp")
        XCTAssertEqual(window.admit(stamp: 900, from: "a"), .stale)
        XCTAssertEqual(window.admit(stamp: 1_200, from: "a"), .fresh)
        XCTAssertEqual(window.admit(stamp: 1_050, from: "a"), .stale)
        XCTAssertEqual(window.admit(stamp: 1_101, from: "a"), .fresh)
        XCTAssertEqual(window.stampCount(of: "a"), 2, "stamps behind the floor are dropped")
    }

    func testSendersStayWithinTheirBoundForgettingTheLeastRecentlyHeard() {
        var window = ReplayWindow(spanStamps: 1_000, maxStampsPerSender: 8, maxSenders: 3)
        XCTAssertEqual(window.admit(stamp: 10, from: "a"), .fresh)
        XCTAssertEqual(window.admit(stamp: 10, from: "b"), .fresh)
        XCTAssertEqual(window.admit(stamp: 10, from: "c"), .fresh)
        XCTAssertEqual(window.admit(stamp: 11, from: "a"), .fresh)
        XCTAssertEqual(window.admit(stamp: 10, from: "d"), .fresh) // forgets b, heard least recently
        XCTAssertEqual(window.senderCount, 3)
        XCTAssertEqual(window.sendersEvicted, 1)
        XCTAssertEqual(window.admit(stamp: 11, from: "a"), .duplicate, "a is remembered")
        XCTAssertEqual(window.admit(stamp: 10, from: "c"), .duplicate, "c is remembered")
        for i in 0..<10_000 { _ = window.admit(stamp: UInt64(i % 97), from: "s\(i)") }
        XCTAssertEqual(window.senderCount, 3)
    }

    func testManyStampsAndSendersAtDefaultBoundsStayBounded() {
        var window = ReplayWindow()
        var total = 0
        for round in UInt64(0)..<1_000 {
            for s in 0..<(ReplayWindow.defaultMaxSenders + 10) where (Int(round) + s) % 97 == 0 {
                XCTAssertEqual(window.admit(stamp: round << 16, from: "127.0.0.1:\(10_000 + s)"), .fresh)
                total += 1
            }
        }
        XCTAssertGreaterThan(total, 10_000)
        XCTAssertLessThanOrEqual(window.senderCount, ReplayWindow.defaultMaxSenders)
        for round in UInt64(0)..<5_000 { _ = window.admit(stamp: round, from: "one") }
        XCTAssertEqual(window.stampCount(of: "one"), ReplayWindow.defaultMaxStampsPerSender)
    }
}

/// Format 1's tag (for the old-format test): HMAC-SHA256(key, body)[0..<16].
enum HMACTag {
    static func of(_ body: [UInt8], key: [UInt8]) -> ArraySlice<UInt8> {
        HMAC.sha256(key: key, message: body).prefix(16)
    }
}
