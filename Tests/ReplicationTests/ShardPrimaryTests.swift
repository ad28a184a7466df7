import XCTest
@testable import Replication

/// A primary and its followers exchanging entries in memory: each log is the list of its
/// entries' terms (entry n at index n-1).
struct LogHarness {
    var primary: ShardPrimary
    var primaryLog: [Int64]
    var logs: [String: [Int64]]
    var epochs: [String: Int64]
    var now: Int64 = 0
    var released: Int64 = 0
    var snapshots: [String] = []
    var proposals: [ShardPrimary.Action] = []
    var down: Set<String> = []
    /// Nodes whose snapshot offers are never answered (paused mid-offer).
    var snapshotsLost: Set<String> = []

    init(followers: [String], isr: [String], epoch: Int64 = 1, primaryLog: [Int64] = [], followerLogs: [String: [Int64]] = [:]) {
        primary = ShardPrimary(me: "p", config: ShardConfig(epoch: epoch, primary: "p", isr: ["p"] + isr),
                               lastLSN: Int64(primaryLog.count), targets: ["p"] + followers, nowMs: 0)
        self.primaryLog = primaryLog
        logs = Dictionary(uniqueKeysWithValues: followers.map { ($0, followerLogs[$0] ?? []) })
        epochs = Dictionary(uniqueKeysWithValues: followers.map { ($0, Int64(0)) })
    }

    mutating func commit() {
        primaryLog.append(primary.config.epoch)
        run(primary.onLocalCommit(lsn: Int64(primaryLog.count), nowMs: now))
    }

    /// Delivers actions (and the answers they cause) until nothing is left.
    mutating func run(_ actions: [ShardPrimary.Action]) {
        var queue = actions
        while !queue.isEmpty {
            let action = queue.removeFirst()
            switch action {
            case .ship(let to, let after, let through, let generation):
                guard !down.contains(to) else { continue }
                let terms = Array(primaryLog[Int(after)..<Int(through)])
                let log = logs[to]!
                let check = FollowerCheck.check(senderEpoch: primary.config.epoch, knownEpoch: epochs[to]!, prevLSN: after,
                                                prevTerm: after == 0 ? 0 : primaryLog[Int(after) - 1], terms: terms,
                                                myLastLSN: Int64(log.count), termAt: { lsn in lsn >= 1 && lsn <= log.count ? log[Int(lsn) - 1] : nil })
                switch check {
                case .apply(let from):
                    epochs[to] = primary.config.epoch
                    logs[to]! += terms[from...]
                    queue += primary.onAck(from: to, lsn: Int64(logs[to]!.count), generation: generation, nowMs: now)
                case .mismatch:
                    let mine = logs[to]!
                    let last = Int64(mine.count)
                    let matches = last == 0 || (last <= primaryLog.count && primaryLog[Int(last) - 1] == mine[Int(last) - 1])
                    queue += primary.onMismatch(from: to, lastLSN: last, matches: matches, generation: generation, nowMs: now)
                case .refuse(let epoch):
                    queue += primary.onRefused(epoch: epoch)
                }
            case .snapshot(let to, let generation):
                snapshots.append(to)
                guard !snapshotsLost.contains(to) else { continue }   // offered to a node that paused: no answer, ever
                logs[to] = primaryLog
                queue += primary.onAck(from: to, lsn: Int64(primaryLog.count), generation: generation, nowMs: now)
            case .release(let through):
                released = through
            default:
                proposals.append(action)
            }
        }
    }
}

final class ShardPrimaryTests: XCTestCase {
    func testAnEntryIsReleasedOnlyWhenEveryIsrFollowerHasIt() {
        var h = LogHarness(followers: ["r1", "r2"], isr: ["r1", "r2"])
        h.run(h.primary.onTick(nowMs: 0))
        h.down = ["r2"]
        h.commit()
        XCTAssertEqual(h.logs["r1"], [1])
        XCTAssertEqual(h.released, 0, "released without r2's copy")
        h.down = []
        h.run(h.primary.onTick(nowMs: 1))
        XCTAssertEqual(h.released, 0, "nothing is resent before the retransmit delay")
        h.run(h.primary.onTick(nowMs: ShardPrimary.retransmitAfterMs + 2))
        XCTAssertEqual(h.logs["r2"], [1], "the lost entries were sent again")
        XCTAssertEqual(h.released, 1)
    }

    func testASilentFollowerIsProposedForRemovalAndStaysRequiredUntilThatCommits() {
        var h = LogHarness(followers: ["r1"], isr: ["r1"])
        h.run(h.primary.onTick(nowMs: 0))
        h.down = ["r1"]
        h.commit()
        h.now = ShardPrimary.followerTimeoutMs + 1
        h.run(h.primary.onTick(nowMs: h.now))
        XCTAssertEqual(h.proposals, [.proposeRemoval("r1")])
        XCTAssertEqual(h.released, 0, "still required while the removal is only proposed")
        h.run(h.primary.onConfig(ShardConfig(epoch: 2, primary: "p", isr: ["p"]), nowMs: h.now))
        XCTAssertEqual(h.released, 1, "released once the smaller isr is committed")
    }

    func testACaughtUpTargetIsProposedAndRequiredFromThen() {
        var h = LogHarness(followers: ["r1"], isr: [], primaryLog: [1, 1, 1])
        h.run(h.primary.onTick(nowMs: 0))
        XCTAssertEqual(h.snapshots, [], "an empty follower catches up from the log")
        XCTAssertEqual(h.logs["r1"], [1, 1, 1])
        XCTAssertEqual(h.proposals, [.proposeAddition("r1")])
        h.down = ["r1"]
        h.commit()
        XCTAssertEqual(h.released, 3, "the proposed follower is required for entry 4")
    }

    func testADivergedFollowerGetsASnapshot() {
        // r1 holds entries 3 and 4 of term 1 that the new primary (term 2) never had.
        var h = LogHarness(followers: ["r1"], isr: ["r1"], epoch: 2, primaryLog: [1, 1], followerLogs: ["r1": [1, 1, 1, 1]])
        h.run(h.primary.onTick(nowMs: 0))
        XCTAssertEqual(h.snapshots, ["r1"])
        h.commit()
        XCTAssertEqual(h.logs["r1"], [1, 1, 2])
        XCTAssertEqual(h.released, 3)
    }

    func testASnapshotOfferToANodeThatDiedIsDroppedAndMadeAgainWhenItIsBack() {
        // r1, a target outside the isr, diverged: it needs a snapshot, and is paused after the
        // offer is sent (no answer will come); gossip declares it dead, then it resumes.
        var h = LogHarness(followers: ["r1"], isr: [], epoch: 2, primaryLog: [1, 1], followerLogs: ["r1": [1, 1, 1, 1]])
        h.snapshotsLost = ["r1"]
        h.run(h.primary.onTick(nowMs: 0))
        XCTAssertEqual(h.snapshots, ["r1"], "offered")
        for step in 1...3 { h.run(h.primary.onTick(nowMs: Int64(step) * (ShardPrimary.retransmitAfterMs + 1))) }
        XCTAssertEqual(h.snapshots, ["r1"], "no second offer while the first is out")

        h.now = 4 * (ShardPrimary.retransmitAfterMs + 1)
        h.run(h.primary.onDead("r1", nowMs: h.now))
        h.snapshotsLost = []
        for step in 5...8 { h.run(h.primary.onTick(nowMs: Int64(step) * (ShardPrimary.retransmitAfterMs + 1))) }
        XCTAssertEqual(h.snapshots, ["r1", "r1"], "offered again once r1 is back, without waiting out the lost offer")
        XCTAssertEqual(h.logs["r1"], [1, 1])
    }

    func testAFollowerThatSawANewerEpochDeposesThePrimary() {
        var h = LogHarness(followers: ["r1"], isr: ["r1"])
        h.epochs["r1"] = 5
        h.run(h.primary.onTick(nowMs: 0))
        XCTAssertEqual(h.proposals, [.deposed(epoch: 5)])
    }

    /// Found by an integration test (a leaver handed a shard to a node that had dropped its
    /// copy; the new primary then refilled the others from its empty one): a follower that
    /// left the isr and the preference list is forgotten, and a position it reported before
    /// is never believed again when it comes back.
    func testAFollowerThatWasDroppedMustReportItsPositionAgainBeforeItIsAdded() {
        var p = ShardPrimary(me: "p", config: ShardConfig(epoch: 1, primary: "p", isr: ["p", "n"]), lastLSN: 3,
                             targets: ["p", "n"], nowMs: 0)
        guard case .ship(_, _, _, let old)? = p.onTick(nowMs: 0).first else { return XCTFail("no probe") }
        XCTAssertEqual(p.onAck(from: "n", lsn: 3, generation: old, nowMs: 1), [.release(through: 3)])
        // n leaves the preference list, then the isr: nothing counts on its copy, which it drops.
        XCTAssertEqual(p.onTargets(["p"], nowMs: 2), [.proposeRemoval("n")])
        _ = p.onConfig(ShardConfig(epoch: 2, primary: "p", isr: ["p"]), nowMs: 2)
        XCTAssertFalse(p.needsCopy(of: "n"))
        // It is wanted again; an answer to a request sent before must not count.
        let probe = p.onTargets(["p", "n"], nowMs: 3)
        guard case .ship("n", 3, 3, let fresh)? = probe.first else { return XCTFail("no probe of n: \(probe)") }
        XCTAssertNotEqual(fresh, old)
        XCTAssertEqual(p.onAck(from: "n", lsn: 3, generation: old, nowMs: 4), [], "a stale answer was believed")
        // Its real answer to the probe: an empty log, which the primary fills from its own.
        XCTAssertEqual(p.onMismatch(from: "n", lastLSN: 0, matches: true, generation: fresh, nowMs: 5),
                       [.ship(to: "n", after: 0, through: 3, generation: fresh)])
        XCTAssertEqual(p.onAck(from: "n", lsn: 3, generation: fresh, nowMs: 6), [.proposeAddition("n")])
    }

    func testTheFirstOfThePreferenceListIsHandedTheShardOnceCaughtUp() {
        var p = ShardPrimary(me: "p", config: ShardConfig(epoch: 1, primary: "p", isr: ["p", "n"]), lastLSN: 0,
                             targets: ["n", "p"], nowMs: 0)
        guard case .ship(_, _, _, let generation)? = p.onTick(nowMs: 0).first else { return XCTFail("no probe") }
        XCTAssertEqual(p.onAck(from: "n", lsn: 0, generation: generation, nowMs: 0), [.proposeHandover(to: "n")])
        XCTAssertEqual(p.handingOver, "n")
        XCTAssertEqual(p.onConfig(ShardConfig(epoch: 2, primary: "n", isr: ["n", "p"]), nowMs: 1), [.deposed(epoch: 2)])
    }

    func testFollowerCheckRefusesOldEpochsAndSkipsWhatItHolds() {
        let log: [Int64] = [1, 1, 2]
        let termAt: (Int64) -> Int64? = { $0 >= 1 && $0 <= 3 ? log[Int($0) - 1] : nil }
        XCTAssertEqual(FollowerCheck.check(senderEpoch: 1, knownEpoch: 2, prevLSN: 3, prevTerm: 2, terms: [2], myLastLSN: 3, termAt: termAt), .refuse(epoch: 2))
        XCTAssertEqual(FollowerCheck.check(senderEpoch: 2, knownEpoch: 2, prevLSN: 3, prevTerm: 2, terms: [2], myLastLSN: 3, termAt: termAt), .apply(from: 0))
        XCTAssertEqual(FollowerCheck.check(senderEpoch: 2, knownEpoch: 2, prevLSN: 1, prevTerm: 1, terms: [1, 2, 2], myLastLSN: 3, termAt: termAt), .apply(from: 2))
        XCTAssertEqual(FollowerCheck.check(senderEpoch: 3, knownEpoch: 2, prevLSN: 1, prevTerm: 1, terms: [3], myLastLSN: 3, termAt: termAt), .mismatch,
                       "our entry 2 (term 1) differs from the batch's (term 3)")
        XCTAssertEqual(FollowerCheck.check(senderEpoch: 2, knownEpoch: 2, prevLSN: 4, prevTerm: 2, terms: [2], myLastLSN: 3, termAt: termAt), .mismatch,
                       "a gap")
        XCTAssertEqual(FollowerCheck.check(senderEpoch: 2, knownEpoch: 2, prevLSN: 2, prevTerm: 7, terms: [], myLastLSN: 3, termAt: termAt), .mismatch)
    }
}

final class ShardPrimaryRandomTests: XCTestCase {
    /// Shipments delivered in random order, some lost, commits and ticks interleaved: whatever
    /// is released is on every isr follower, identical to the primary's log, and everything is
    /// released in the end.
    func testReleasedEntriesAreOnEveryIsrFollowerUnderLossAndReordering() {
        var seed: UInt64 = 42
        func random(_ n: Int) -> Int {
            seed = seed &* 6364136223846793005 &+ 1442695040888963407
            return Int(seed >> 33) % n
        }
        for trial in 0..<300 {
            var primary = ShardPrimary(me: "p", config: ShardConfig(epoch: 1, primary: "p", isr: ["p", "a", "b"]), lastLSN: 0,
                                       targets: ["p", "a", "b"], nowMs: 0)
            var primaryLog: [Int64] = []
            var logs: [String: [Int64]] = ["a": [], "b": []]
            var inFlight: [(to: String, after: Int64, terms: [Int64], generation: UInt64)] = []
            var acks: [(from: String, lsn: Int64, generation: UInt64)] = []
            var released: Int64 = 0
            var now: Int64 = 0
            func handle(_ actions: [ShardPrimary.Action]) {
                for action in actions {
                    switch action {
                    case .ship(let to, let after, let through, let generation):
                        inFlight.append((to, after, Array(primaryLog[Int(after)..<Int(through)]), generation))
                    case .release(let through):
                        XCTAssertGreaterThanOrEqual(through, released, "trial \(trial)")
                        released = through
                        for f in ["a", "b"] {
                            XCTAssertGreaterThanOrEqual(logs[f]!.count, Int(through), "trial \(trial): released \(through) but \(f) has \(logs[f]!.count)")
                            XCTAssertEqual(Array(logs[f]!.prefix(Int(through))), Array(primaryLog.prefix(Int(through))), "trial \(trial)")
                        }
                    case .proposeRemoval:
                        break   // heavy loss looks like a dead follower; the removal never commits here
                    default: XCTFail("trial \(trial): unexpected \(action)")
                    }
                }
            }
            handle(primary.onTick(nowMs: now))
            for step in 0..<400 {
                now += Int64(random(40))
                switch random(10) {
                case 0, 1:
                    if primaryLog.count < 60 {
                        primaryLog.append(1)
                        handle(primary.onLocalCommit(lsn: Int64(primaryLog.count), nowMs: now))
                    }
                case 2:
                    handle(primary.onTick(nowMs: now))
                case 3 where !inFlight.isEmpty:
                    inFlight.remove(at: random(inFlight.count))   // lost
                case 4 where !acks.isEmpty:
                    acks.remove(at: random(acks.count))           // lost
                case 5 where !acks.isEmpty, 6 where !acks.isEmpty:
                    let ack = acks.remove(at: random(acks.count))
                    handle(primary.onAck(from: ack.from, lsn: ack.lsn, generation: ack.generation, nowMs: now))
                default:
                    guard !inFlight.isEmpty else { continue }
                    let m = inFlight.remove(at: random(inFlight.count))
                    let log = logs[m.to]!
                    let check = FollowerCheck.check(senderEpoch: 1, knownEpoch: 1, prevLSN: m.after,
                                                    prevTerm: m.after == 0 ? 0 : 1, terms: m.terms, myLastLSN: Int64(log.count),
                                                    termAt: { $0 >= 1 && $0 <= log.count ? log[Int($0) - 1] : nil })
                    switch check {
                    case .apply(let from):
                        logs[m.to]! += m.terms[from...]
                        acks.append((m.to, Int64(logs[m.to]!.count), m.generation))
                    case .mismatch:
                        handle(primary.onMismatch(from: m.to, lastLSN: Int64(log.count), matches: true, generation: m.generation, nowMs: now))
                    case .refuse: XCTFail("trial \(trial) step \(step): refused")
                    }
                }
            }
            // Heal: deliver everything, tick past the retransmit delay until all is released.
            for _ in 0..<50 where released < Int64(primaryLog.count) {
                now += ShardPrimary.retransmitAfterMs + 1
                handle(primary.onTick(nowMs: now))
                while !inFlight.isEmpty || !acks.isEmpty {
                    if !inFlight.isEmpty {
                        let m = inFlight.removeFirst()
                        let log = logs[m.to]!
                        if case .apply(let from) = FollowerCheck.check(senderEpoch: 1, knownEpoch: 1, prevLSN: m.after, prevTerm: m.after == 0 ? 0 : 1,
                                                                       terms: m.terms, myLastLSN: Int64(log.count),
                                                                       termAt: { $0 >= 1 && $0 <= log.count ? log[Int($0) - 1] : nil }) {
                            logs[m.to]! += m.terms[from...]
                            acks.append((m.to, Int64(logs[m.to]!.count), m.generation))
                        } else {
                            handle(primary.onMismatch(from: m.to, lastLSN: Int64(log.count), matches: true, generation: m.generation, nowMs: now))
                        }
                    }
                    if !acks.isEmpty {
                        let ack = acks.removeFirst()
                        handle(primary.onAck(from: ack.from, lsn: ack.lsn, generation: ack.generation, nowMs: now))
                    }
                }
            }
            XCTAssertEqual(released, Int64(primaryLog.count), "trial \(trial): not everything was released after healing")
        }
    }
}
