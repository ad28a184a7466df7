import Gossip
import Simulation
import XCTest

/// Whole clusters in the deterministic simulator. Every failure message names the seed;
/// rerun with it to replay the same run event for event.
final class ClusterSimulationTests: XCTestCase {
    func everyone(_ sim: GossipSimulation, _ status: MemberStatus) -> [MemberID: MemberStatus] {
        Dictionary(uniqueKeysWithValues: sim.memberIDs.map { ($0, status) })
    }

    func testFiftyMembersConvergeAfterJoinsAndLeaves() throws {
        let seed: UInt64 = 50
        let sim = try XCTUnwrap(GossipMeasurements.startCluster(members: 50, seed: seed), "50 joins did not converge, seed \(seed)")
        var expected = everyone(sim, .alive)
        // Five leave (each process exits a second later), three more join through random members.
        for i in [3, 17, 28, 40, 49] {
            let id = sim.memberIDs[i]
            sim.perform(.leave(id))
            sim.schedule(.crash(id), at: sim.now.adding(ms: 1_000))
            expected[id] = .left
            sim.run(forMs: 100)
        }
        for i in 0..<3 {
            let id = sim.addMember(name: "late\(i)", seeds: [sim.memberIDs[i * 7].address])
            expected[id] = .alive
            sim.run(forMs: 100)
        }
        let converged = sim.run(until: sim.now.adding(ms: 20_000)) { sim.allRunningMembersSee(expected) }
        XCTAssertTrue(converged, "views did not converge, seed \(seed)")
        sim.run(forMs: 2_000)  // the leavers' processes have exited by now
        XCTAssertEqual(sim.runningMembers.count, 48)
        for observer in sim.runningMembers {
            let view = try XCTUnwrap(sim.instance(of: observer)).members
            XCTAssertEqual(view.filter { $0.status == .alive }.count, 48, "\(observer), seed \(seed)")
            XCTAssertEqual(view.filter { $0.status == .dead }.count, 0, "\(observer), seed \(seed)")
        }
    }

    /// The bound: a round to notice (2 probe intervals, as the victim may be mid-round),
    /// the longest suspicion (`suspicionMaxMs`, a lone unconfirmed accuser), and one second
    /// for the verdict to reach everyone. Typical figures are far lower (docs/GOSSIP.md).
    func detectionBoundMs(_ settings: GossipSettings, members n: Int) -> Int64 {
        2 * settings.probeIntervalMs + settings.suspicionMaxMs(clusterSize: n) + 1_000
    }

    func testCrashedMemberIsDeclaredDeadByAllWithinTheBound() {
        for n in [3, 5, 10, 20] {
            let seed = UInt64(100 + n)
            let settings = GossipSettings()
            let trials = n == 20 ? 3 : 5
            let samples = GossipMeasurements.detectionTimes(members: n, trials: trials, seed: seed, settings: settings)
            XCTAssertEqual(samples.sorted.count, trials, "\(n) members: some crash never detected by all, seed \(seed)")
            let worst = samples.max ?? .max
            XCTAssertLessThanOrEqual(worst, detectionBoundMs(settings, members: n), "\(n) members, seed \(seed): \(samples)")
            // Nobody is declared dead before the shortest suspicion could expire.
            XCTAssertGreaterThanOrEqual(samples.sorted.first ?? 0, settings.suspicionMinMs(clusterSize: n), "seed \(seed)")
        }
    }

    func testNoFalseDeathAtFivePercentLossWithMemberPausedTwoSecondsEveryThirtySeconds() throws {
        let seed: UInt64 = 7
        let sim = try XCTUnwrap(GossipMeasurements.startCluster(members: 10, seed: seed), "seed \(seed)")
        sim.network.defaultLink.dropProbability = 0.05
        var deaths: [String] = []
        var suspicions = 0
        sim.onMemberChanged = { at, observer, member in
            if member.status == .dead { deaths.append("\(at): \(observer) declared \(member) dead") }
            if member.status == .suspect { suspicions += 1 }
        }
        let sleeper = sim.memberIDs[4]
        let start = sim.now
        for k in 0..<8 {
            let at = start.adding(ms: 10_000 + Int64(k) * 30_000 + Int64(k * 137 % 300))
            sim.schedule(.pause(sleeper), at: at)
            sim.schedule(.resume(sleeper), at: at.adding(ms: 2_000))
        }
        sim.run(forMs: 250_000)
        XCTAssertEqual(deaths, [], "seed \(seed)")
        XCTAssertGreaterThan(suspicions, 8, "the pauses and losses did cause suspicions, all refuted (seed \(seed))")
        XCTAssertTrue(sim.allRunningMembersSee(everyone(sim, .alive)), "seed \(seed)")
    }

    func testGracefulLeaveIsSeenAsLeftNotDead() throws {
        let seed: UInt64 = 11
        let sim = try XCTUnwrap(GossipMeasurements.startCluster(members: 8, seed: seed), "seed \(seed)")
        var deaths = 0
        sim.onMemberChanged = { _, _, member in if member.status == .dead { deaths += 1 } }
        let leaver = sim.memberIDs[5]
        sim.perform(.leave(leaver))
        sim.schedule(.crash(leaver), at: sim.now.adding(ms: 500))  // the process exits
        sim.run(forMs: 15_000)  // well past any suspicion timeout
        XCTAssertTrue(sim.allRunningMembersSee([leaver: .left]), "seed \(seed)")
        XCTAssertEqual(deaths, 0, "seed \(seed)")
    }

    func testRestartedMemberIsAliveAgainWithAHigherIncarnation() throws {
        let seed: UInt64 = 12
        let sim = try XCTUnwrap(GossipMeasurements.startCluster(members: 6, seed: seed), "seed \(seed)")
        let victim = sim.memberIDs[2]
        sim.perform(.crash(victim))
        XCTAssertTrue(sim.run(until: sim.now.adding(ms: 10_000)) { sim.allRunningMembersSee([victim: .dead]) }, "seed \(seed)")
        let deadAt = try XCTUnwrap(sim.instance(of: sim.memberIDs[0])?.member(victim)?.incarnation)
        sim.perform(.restart(victim, seeds: [sim.memberIDs[0].address]))
        XCTAssertTrue(sim.run(until: sim.now.adding(ms: 10_000)) { sim.allRunningMembersSee(self.everyone(sim, .alive)) }, "seed \(seed)")
        XCTAssertGreaterThan(try XCTUnwrap(sim.instance(of: victim)).incarnation, deadAt, "it refuted its own death")
    }

    /// Issue 10: a healed node served nothing for 13-17 s, because both sides had declared
    /// each other dead and only the 30 s push-pull reconnected them. The 1 s reconnect to dead
    /// members merges them within a few seconds (the default settings: no shortcut here).
    func testPartitionedSidesMergeAgainWithinSecondsOfHealing() throws {
        let seed: UInt64 = 13
        let sim = try XCTUnwrap(GossipMeasurements.startCluster(members: 6, seed: seed, settings: GossipSettings()), "seed \(seed)")
        let addresses = sim.memberIDs.map(\.address)
        sim.network.partition([Array(addresses[0..<3]), Array(addresses[3..<6])])
        XCTAssertTrue(sim.run(until: sim.now.adding(ms: 30_000)) {
            sim.status(of: sim.memberIDs[5], seenBy: sim.memberIDs[0]) == .dead
                && sim.status(of: sim.memberIDs[0], seenBy: sim.memberIDs[5]) == .dead
        }, "the sides never declared each other dead, seed \(seed)")
        sim.network.heal()
        XCTAssertTrue(sim.run(until: sim.now.adding(ms: 5_000)) { sim.allRunningMembersSee(self.everyone(sim, .alive)) },
                      "the sides did not merge within 5 s of healing, seed \(seed)")
    }

    func testNoDatagramExceedsTheLimitEvenForThePushPullOfFiftyTwoMembers() throws {
        let seed: UInt64 = 60
        let sim = GossipSimulation(seed: seed)
        // Long names and the largest metadata make the state exchange span many datagrams.
        let meta = Array(repeating: UInt8(ascii: "m"), count: GossipLimits.maxMetaBytes)
        let longName = { (i: Int) in String(repeating: "n", count: GossipLimits.maxNameBytes - 3) + String(100 + i) }
        let longAddress = { (i: Int) in String(repeating: "h", count: GossipLimits.maxAddressBytes - 8) + "\(100 + i):7946" }
        let first = sim.addMember(name: longName(0), address: longAddress(0), meta: meta, seeds: [])
        for i in 1..<51 {
            sim.addMember(name: longName(i), address: longAddress(i), meta: meta, seeds: [first.address])
            sim.run(forMs: 20)
        }
        XCTAssertTrue(sim.run(until: sim.now.adding(ms: 30_000)) { sim.allRunningMembersSee(self.everyone(sim, .alive)) }, "seed \(seed)")
        // A late joiner (the 52nd) receives the whole view: 51 × 395 bytes, so many parts.
        var largestPushPull = 0, pushPullParts = 0
        sim.onDatagram = { _, _, _, bytes, _ in
            if case .pushPull? = try? GossipCodec.decode(bytes).message {
                pushPullParts += 1
                largestPushPull = max(largestPushPull, bytes.count)
            }
        }
        sim.addMember(name: longName(51), address: longAddress(51), meta: meta, seeds: [first.address])
        sim.perform(.crash(sim.memberIDs[7]))  // and a crash, for suspect/dead news
        sim.run(forMs: 5_000)
        XCTAssertGreaterThan(pushPullParts, 10)
        XCTAssertGreaterThan(largestPushPull, 1_000)
        XCTAssertLessThanOrEqual(sim.largestDatagramBytes, GossipSettings().maxDatagramBytes, "seed \(seed)")
    }

    func testTheSameSeedReplaysTheSameRun() {
        func fingerprint(seed: UInt64) -> [String] {
            guard let sim = GossipMeasurements.startCluster(members: 5, seed: seed) else { return ["no convergence"] }
            var log: [String] = []
            sim.onMemberChanged = { at, observer, member in log.append("\(at) \(observer.name) \(member)") }
            sim.network.defaultLink.dropProbability = 0.1
            sim.perform(.crash(sim.memberIDs[1]))
            sim.run(forMs: 5_000)
            return log + ["\(sim.totalBytesSent)"]
        }
        XCTAssertEqual(fingerprint(seed: 99), fingerprint(seed: 99))
        XCTAssertNotEqual(fingerprint(seed: 99), fingerprint(seed: 100))
    }
}
