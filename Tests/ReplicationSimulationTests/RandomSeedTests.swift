import ReplicationSim
import XCTest

/// Many seeds, each a whole run of the production shells: a random cluster shape (3 or 5
/// nodes, R 2 or 3, trimmed logs or not) and fault mix (crashes, pauses, partitions, loss,
/// slow links), a few hundred client sends, then healing and a final write to every shard.
/// 60 quick seeds keep the set near a minute on two cores in a debug build;
/// `scripts/simulate` runs a thousand longer ones in a release build. A failure names the seed: `scripts/simulate --seed N --quick --verbose`
/// replays it with every node's log.
final class RandomSeedTests: XCTestCase {
    static let seeds: ClosedRange<UInt64> = 1...60

    /// Run once (on both cores), checked by the tests below from their own angle.
    static let results: [SimResult] = ReplicationSimulation.run(seeds: Array(seeds), profile: .quick, jobs: 2)

    static let safety: Set<Invariant> = [.ackedMessageLost, .duplicateMessage, .seqGap, .copiesDiverge, .conflictingAcks,
                                         .releasedBeyondIsr, .configFork, .releasedUnderR]

    func failures(_ invariants: Set<Invariant>) -> [String] {
        Self.results.compactMap { r in
            let bad = r.violations.filter { invariants.contains($0.invariant) }
            return bad.isEmpty ? nil : "seed \(r.seed): " + bad.prefix(3).map(\.description).joined(separator: "; ")
        }
    }

    func testNoSeedLosesDuplicatesOrReordersAnAckedMessage() {
        let failed = failures(Self.safety)
        XCTAssertTrue(failed.isEmpty, "\(failed.count) of \(Self.seeds.count) seeds broke a safety invariant:\n"
            + failed.joined(separator: "\n"))
    }

    func testEverySeedSettlesAfterHealingWithAServingPrimaryPerShard() {
        let failed = failures(Set(Invariant.allCases).subtracting(Self.safety))
        XCTAssertTrue(failed.isEmpty, "\(failed.count) of \(Self.seeds.count) seeds did not recover after healing:\n"
            + failed.joined(separator: "\n"))
    }

    func testTheSeedsExerciseFailoversSnapshotTransfersRetriedRoutesAndJobs() {
        // Coverage: the runs above did meet the rare paths, or passing them would mean little.
        let total = Self.results.reduce(into: SimStats()) { sum, r in
            sum.crashes += r.stats.crashes; sum.pauses += r.stats.pauses; sum.partitions += r.stats.partitions
            sum.stepDowns += r.stats.stepDowns; sum.snapshotsInstalled += r.stats.snapshotsInstalled
            sum.acked += r.stats.acked; sum.attempts += r.stats.attempts; sum.sends += r.stats.sends
            sum.routerRetries += r.stats.routerRetries; sum.refusedWhileInstalling += r.stats.refusedWhileInstalling
            sum.jobSteps += r.stats.jobSteps; sum.oneWayFaults += r.stats.oneWayFaults
            sum.scriptSteps += r.stats.scriptSteps; sum.scriptAttempts += r.stats.scriptAttempts
        }
        XCTAssertGreaterThan(total.crashes, 20)
        XCTAssertGreaterThan(total.pauses, 10)
        XCTAssertGreaterThan(total.partitions, 10)
        XCTAssertGreaterThan(total.stepDowns, 20)
        XCTAssertGreaterThan(total.snapshotsInstalled, 20, "the snapshot transfer (offer, begin, chunks, done, install)")
        XCTAssertGreaterThan(total.routerRetries, 100, "the router's retry while a shard has no primary")
        XCTAssertGreaterThan(total.jobSteps, 60, "outbox jobs")
        XCTAssertGreaterThan(total.oneWayFaults, 10, "one-way cuts and asymmetric loss")
        // Every seed's two groups made all their changes (11 steps each), its tipper its credit
        // and 10 tips, its list owner the list and two mass messages, some after retries.
        XCTAssertEqual(total.scriptSteps, 60 * (2 * 11 + 11 + 3), "scripted steps answered")
        XCTAssertGreaterThan(total.scriptAttempts, total.scriptSteps, "scripted steps retried")
        XCTAssertGreaterThan(total.attempts, total.sends + total.sends / 20, "hardly any client retried")
        XCTAssertGreaterThan(total.acked, total.sends * 9 / 10)
    }

    func testSameSeedReplaysTheSameRun() {
        for seed: UInt64 in [3, 77] {
            let a = ReplicationSimulation.run(seed: seed, profile: .quick, sink: { _ in })
            let b = ReplicationSimulation.run(seed: seed, profile: .quick, sink: { _ in })
            XCTAssertEqual(a.stats.description, b.stats.description, "seed \(seed)")
            XCTAssertEqual(a.history, b.history, "seed \(seed)")
            XCTAssertEqual(a.traceTail, b.traceTail, "seed \(seed)")
            XCTAssertEqual(a.simulatedMs, b.simulatedMs, "seed \(seed)")
        }
    }
}
