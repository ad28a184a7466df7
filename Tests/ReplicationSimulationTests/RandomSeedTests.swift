import ReplicationSim
import XCTest

/// Hundreds of seeds, each a whole run: a random cluster shape (3 or 5 nodes, R 2 or 3,
/// trimmed logs or not) and fault mix (crashes, pauses, partitions, loss, slow links), a
/// few hundred client sends, then healing and a final write to every shard. The quick
/// profile keeps the set well under a minute in a debug build; `scripts/simulate` runs
/// longer ones. A failure names the seed: `scripts/simulate --seed N --quick --verbose`
/// replays it with every node's log.
final class RandomSeedTests: XCTestCase {
    static let seeds: ClosedRange<UInt64> = 1...300

    /// Run once, checked by the tests below from their own angle.
    static let results: [SimResult] = seeds.map { ReplicationSimulation.run(seed: $0, profile: .quick, sink: { _ in }) }

    static let safety: Set<Invariant> = [.ackedMessageLost, .duplicateMessage, .seqGap, .copiesDiverge, .conflictingAcks,
                                         .releasedBeyondIsr, .configFork]

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

    func testTheSeedsExerciseFailoversSnapshotsAndRetries() {
        // Coverage: the runs above did meet the rare paths, or passing them would mean little.
        let total = Self.results.reduce(into: SimStats()) { sum, r in
            sum.crashes += r.stats.crashes; sum.pauses += r.stats.pauses; sum.partitions += r.stats.partitions
            sum.stepDowns += r.stats.stepDowns; sum.snapshotsInstalled += r.stats.snapshotsInstalled
            sum.acked += r.stats.acked; sum.attempts += r.stats.attempts; sum.sends += r.stats.sends
        }
        XCTAssertGreaterThan(total.crashes, 100)
        XCTAssertGreaterThan(total.pauses, 50)
        XCTAssertGreaterThan(total.partitions, 50)
        XCTAssertGreaterThan(total.stepDowns, 100)
        XCTAssertGreaterThan(total.snapshotsInstalled, 100)
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
