import XCTest
@testable import Chat

/// The rules of `LoginThrottle` with the default settings, time passed in by hand.
final class LoginThrottleTests: XCTestCase {
    let t0: Int64 = 1_763_700_000_000
    let settings = LoginThrottle.Settings()

    /// Admits and reports the outcome at once; returns the refusal's wait and rule, if refused.
    @discardableResult
    func attempt(_ throttle: inout LoginThrottle, _ account: String, from source: String, at now: Int64,
                 _ outcome: LoginThrottle.Outcome = .failed) -> (Int64, LoginThrottle.Rule)? {
        switch throttle.begin(account: account, source: source, nowMs: now) {
        case .allowed(let admitted):
            throttle.finish(admitted, outcome, nowMs: now)
            return nil
        case .throttled(let wait, let rule):
            return (wait, rule)
        }
    }

    func testAPairGetsFiveFreeFailuresThenWaitsThatDoubleUpToOneMinute() {
        var throttle = LoginThrottle()
        for _ in 0..<5 { XCTAssertNil(attempt(&throttle, "alice", from: "198.51.100.7", at: t0)) }
        XCTAssertNil(attempt(&throttle, "alice", from: "198.51.100.7", at: t0), "the sixth attempt is checked")
        var now = t0
        var expected: Int64 = 1_000
        for _ in 0..<10 {
            let refused = attempt(&throttle, "alice", from: "198.51.100.7", at: now)
            XCTAssertEqual(refused?.0, expected)
            XCTAssertEqual(refused?.1, .pair)
            XCTAssertNotNil(attempt(&throttle, "alice", from: "198.51.100.7", at: now + expected - 1), "still waiting 1 ms early")
            now += expected
            XCTAssertNil(attempt(&throttle, "alice", from: "198.51.100.7", at: now))
            expected = min(expected * 2, 60_000)
        }
        XCTAssertEqual(expected, 60_000, "the wait reached its cap")
        XCTAssertEqual(throttle.stats.failures, 16)
    }

    func testThrottledAttemptIsRefusedWhateverItsPasswordAndAfterTheWaitASuccessClearsThePair() {
        var throttle = LoginThrottle()
        for _ in 0..<6 { attempt(&throttle, "alice", from: "198.51.100.7", at: t0) }
        // A refusal is decided before any password is looked at.
        guard case .throttled(1_000, .pair) = throttle.begin(account: "alice", source: "198.51.100.7", nowMs: t0) else {
            return XCTFail("the right password must be refused while the pair waits")
        }
        XCTAssertNil(attempt(&throttle, "alice", from: "198.51.100.7", at: t0 + 1_000, .succeeded))
        for _ in 0..<5 { XCTAssertNil(attempt(&throttle, "alice", from: "198.51.100.7", at: t0 + 1_001)) }
        XCTAssertEqual(throttle.stats.successes, 1)
        XCTAssertEqual(throttle.stats.throttledByPair, 1)
    }

    func testAnotherAddressOfTheSameAccountIsNotHeldByThePairRule() {
        var throttle = LoginThrottle()
        for _ in 0..<8 { attempt(&throttle, "alice", from: "198.51.100.7", at: t0) }
        XCTAssertNil(attempt(&throttle, "alice", from: "203.0.113.9", at: t0, .succeeded))
    }

    func testAPairsFailuresAreForgottenAfterAQuietQuarterHour() {
        var throttle = LoginThrottle()
        for _ in 0..<7 { attempt(&throttle, "alice", from: "198.51.100.7", at: t0) }
        XCTAssertNotNil(attempt(&throttle, "alice", from: "198.51.100.7", at: t0 + 500))
        let later = t0 + settings.pairForgetAfterMs
        for _ in 0..<6 { XCTAssertNil(attempt(&throttle, "alice", from: "198.51.100.7", at: later)) }
        XCTAssertNotNil(attempt(&throttle, "alice", from: "198.51.100.7", at: later))
    }

    func testOneAddressSprayingManyAccountsIsStoppedByItsBudget() {
        var throttle = LoginThrottle()
        for i in 0..<30 { XCTAssertNil(attempt(&throttle, "user\(i)", from: "198.51.100.7", at: t0)) }
        let refused = attempt(&throttle, "user30", from: "198.51.100.7", at: t0)
        XCTAssertEqual(refused?.1, .address)
        XCTAssertEqual(refused?.0, 20_000, "one failure frees up every 10 min / 30")
        // Other addresses are not affected.
        XCTAssertNil(attempt(&throttle, "user30", from: "203.0.113.9", at: t0))
        // The budget leaks: after 20 s one more failure fits, then the wait is 20 s again.
        XCTAssertNil(attempt(&throttle, "user31", from: "198.51.100.7", at: t0 + 20_000))
        XCTAssertEqual(attempt(&throttle, "user32", from: "198.51.100.7", at: t0 + 20_000)?.0, 20_000)
        // After a whole window the full budget is back.
        for i in 0..<30 { XCTAssertNil(attempt(&throttle, "late\(i)", from: "198.51.100.7", at: t0 + 20_000 + 600_000)) }
        XCTAssertEqual(throttle.stats.throttledByAddress, 2)
    }

    func testSuccessesDoNotUseUpAnAddressBudget() {
        var throttle = LoginThrottle()
        // A NAT in front of many users who all log in fine.
        for i in 0..<500 { XCTAssertNil(attempt(&throttle, "user\(i)", from: "198.51.100.7", at: t0, .succeeded)) }
        for i in 0..<30 { XCTAssertNil(attempt(&throttle, "typo\(i)", from: "198.51.100.7", at: t0)) }
    }

    func testManyAddressesGuessingOneAccountThrottleOnlyAddressesItHasNotLoggedInFrom() {
        var throttle = LoginThrottle()
        XCTAssertNil(attempt(&throttle, "alice", from: "192.0.2.1", at: t0, .succeeded), "alice at home")
        for i in 0..<100 { XCTAssertNil(attempt(&throttle, "alice", from: "10.0.\(i / 250).\(i % 250)", at: t0 + 1)) }
        let stranger = attempt(&throttle, "alice", from: "10.9.9.9", at: t0 + 1)
        XCTAssertEqual(stranger?.1, .account)
        XCTAssertEqual(stranger?.0, 36_000, "one failure frees up every hour / 100")
        // Alice's own address still logs in, even after typos, and its failures are not charged.
        XCTAssertNil(attempt(&throttle, "alice", from: "192.0.2.1", at: t0 + 2))
        XCTAssertNil(attempt(&throttle, "alice", from: "192.0.2.1", at: t0 + 3, .succeeded))
        XCTAssertEqual(attempt(&throttle, "alice", from: "10.9.9.9", at: t0 + 4)?.1, .account)
        // Other accounts from those addresses are not affected by alice's budget.
        XCTAssertNil(attempt(&throttle, "bob", from: "10.9.9.9", at: t0 + 5, .succeeded))
    }

    func testTrustedAddressIsNotStoppedByItsOwnExhaustedAddressBudget() {
        var throttle = LoginThrottle()
        XCTAssertNil(attempt(&throttle, "alice", from: "198.51.100.7", at: t0, .succeeded))
        for i in 0..<30 { attempt(&throttle, "user\(i)", from: "198.51.100.7", at: t0 + 1) }
        XCTAssertEqual(attempt(&throttle, "carol", from: "198.51.100.7", at: t0 + 2)?.1, .address)
        XCTAssertNil(attempt(&throttle, "alice", from: "198.51.100.7", at: t0 + 2, .succeeded),
                     "someone spraying from alice's address does not lock alice out")
    }

    func testTrustLapsesAfterThirtyDays() {
        var throttle = LoginThrottle()
        XCTAssertNil(attempt(&throttle, "alice", from: "192.0.2.1", at: t0, .succeeded))
        let later = t0 + settings.trustedForMs
        for i in 0..<100 { attempt(&throttle, "alice", from: "10.0.0.\(i)", at: later) }
        XCTAssertEqual(attempt(&throttle, "alice", from: "192.0.2.1", at: later)?.1, .account)
    }

    func testConcurrentGuessesAreChargedWhenAdmittedNotWhenAnswered() {
        var throttle = LoginThrottle()
        var admitted: [LoginThrottle.Attempt] = []
        for _ in 0..<6 {
            guard case .allowed(let a) = throttle.begin(account: "alice", source: "198.51.100.7", nowMs: t0) else {
                return XCTFail("the first six are admitted")
            }
            admitted.append(a)
        }
        guard case .throttled(_, .pair) = throttle.begin(account: "alice", source: "198.51.100.7", nowMs: t0) else {
            return XCTFail("a seventh concurrent guess must wait, before any answer came back")
        }
        for a in admitted { throttle.finish(a, .failed, nowMs: t0 + 50) }
        XCTAssertEqual(throttle.stats.failures, 6)
    }

    func testAttemptsThatWereNeverCheckedAreRefunded() {
        var throttle = LoginThrottle()
        for i in 0..<100 { XCTAssertNil(attempt(&throttle, "user\(i % 3)", from: "198.51.100.7", at: t0, .notChecked)) }
        XCTAssertEqual(throttle.records, 0, "nothing is held for attempts the node could not check")
        for i in 0..<30 { XCTAssertNil(attempt(&throttle, "user\(i)", from: "198.51.100.7", at: t0)) }
    }

    func testMemoryStaysWithinItsBoundsForgettingTheOldestEntries() {
        var small = LoginThrottle.Settings()
        small.maxPairs = 8
        small.maxAddresses = 8
        small.maxAccounts = 8
        small.maxTrustedPairs = 4
        var throttle = LoginThrottle(settings: small)
        for i in 0..<1_000 {
            attempt(&throttle, "user\(i)", from: "10.0.\(i / 250).\(i % 250)", at: t0 + Int64(i), i % 2 == 0 ? .failed : .succeeded)
            XCTAssertLessThanOrEqual(throttle.records, 8 + 8 + 8 + 4)
        }
        XCTAssertGreaterThan(throttle.stats.evictions, 0)
        // The newest trusted pair is kept: its address's exhausted budget does not stop it.
        for k in 0..<30 { attempt(&throttle, "x\(k)", from: "10.0.3.249", at: t0 + 2_000) }
        XCTAssertEqual(attempt(&throttle, "y", from: "10.0.3.249", at: t0 + 2_001)?.1, .address)
        XCTAssertNil(attempt(&throttle, "user999", from: "10.0.3.249", at: t0 + 2_002, .succeeded))
        // The oldest was forgotten to make room: that pair is an untrusted stranger again.
        for k in 0..<30 { attempt(&throttle, "z\(k)", from: "10.0.0.1", at: t0 + 2_003) }
        XCTAssertEqual(attempt(&throttle, "user1", from: "10.0.0.1", at: t0 + 2_004)?.1, .address)
    }

    func testAClockSteppedBackwardsNeverStretchesAWaitBeyondItsRule() {
        var throttle = LoginThrottle()
        for _ in 0..<20 { attempt(&throttle, "alice", from: "198.51.100.7", at: t0 + 3_600_000) }
        let refused = attempt(&throttle, "alice", from: "198.51.100.7", at: t0)
        XCTAssertLessThanOrEqual(refused?.0 ?? 0, settings.pairMaxDelayMs)
    }

    // MARK: Sources

    func testSourceIsTheIPWithoutPortOrBrackets() {
        XCTAssertEqual(LoginSource.ip(ofRemoteAddress: "127.0.0.2:53122"), "127.0.0.2")
        XCTAssertEqual(LoginSource.ip(ofRemoteAddress: "[::1]:8080"), "::1")
        XCTAssertEqual(LoginSource.ip(ofRemoteAddress: "[2001:db8::7]:443"), "2001:db8::7")
        XCTAssertEqual(LoginSource.ip(ofRemoteAddress: "?"), "?")
    }

    func testIPv6SourcesAreCountedByTheirSlash64AndMappedIPv4AsIPv4() {
        XCTAssertEqual(LoginSource.throttleKey(ip: "203.0.113.9"), "203.0.113.9")
        XCTAssertEqual(LoginSource.throttleKey(ip: "2001:db8:1:2:aaaa::1"), "2001:db8:1:2::/64")
        XCTAssertEqual(LoginSource.throttleKey(ip: "2001:db8:1:2:bbbb:cccc:dddd:eeee"), "2001:db8:1:2::/64")
        XCTAssertEqual(LoginSource.throttleKey(ip: "::ffff:203.0.113.9"), "203.0.113.9")
        XCTAssertEqual(LoginSource.throttleKey(ip: "?"), "?")
    }

    // MARK: BoundedLRU

    func testBoundedMapForgetsTheLeastRecentlyWrittenEntry() {
        var map = BoundedLRU<String, Int>(capacity: 3)
        map.set("a", 1)
        map.set("b", 2)
        map.set("c", 3)
        _ = map["a"]  // reading does not refresh
        map.set("b", 20)  // writing does
        XCTAssertEqual(map.set("d", 4)?.key, "a")
        XCTAssertEqual(map.set("e", 5)?.key, "c")
        map.remove("b")
        XCTAssertNil(map.set("f", 6))
        XCTAssertEqual(map.count, 3)
        XCTAssertEqual([map["d"], map["e"], map["f"], map["a"]], [4, 5, 6, nil])
    }
}
