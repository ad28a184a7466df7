import XCTest
@testable import Replication

final class ConfigChangeTests: XCTestCase {
    let three = ["n1", "n2", "n3"]

    /// Runs one change to its end against the acceptors of `reachable`, in order.
    func run(_ change: inout ConfigChange, _ acceptors: inout [String: ConfigAcceptor], reachable: [String]) -> ConfigChange.Action {
        var action = ConfigChange.Action.wait
        for node in reachable {
            action = change.onPrepare(from: node, acceptors[node]!.prepare(shard: 0, ballot: change.ballot))
            if case .accept = action { break }
            if case .abandoned = action { return action }
        }
        guard case .accept(let ballot, let config) = action else { return action }
        for node in reachable {
            action = change.onAccept(from: node, accepted: acceptors[node]!.accept(shard: 0, ballot: ballot, config: config))
            if case .committed = action { return action }
        }
        return action
    }

    func testAFailoverCommitsWithAMajorityAndRaisesTheEpoch() {
        var acceptors = Dictionary(uniqueKeysWithValues: three.map { ($0, ConfigAcceptor()) })
        var first = ConfigChange(shard: 0, members: three, ballot: Ballot(counter: 1, node: "n1")) { _ in
            ShardConfig(epoch: 0, primary: "n1", isr: ["n1", "n2"])
        }
        XCTAssertEqual(run(&first, &acceptors, reachable: three), .committed(ShardConfig(epoch: 1, primary: "n1", isr: ["n1", "n2"])))
        // n1 dies; n2 takes over with n3's help.
        var failover = ConfigChange(shard: 0, members: three, ballot: Ballot(counter: 2, node: "n2")) { current in
            ShardConfig(epoch: 0, primary: "n2", isr: (current?.isr ?? []).filter { $0 != "n1" })
        }
        XCTAssertEqual(run(&failover, &acceptors, reachable: ["n2", "n3"]), .committed(ShardConfig(epoch: 2, primary: "n2", isr: ["n2"])))
        XCTAssertEqual(acceptors["n1"]!.accepted(shard: 0)?.epoch, 1, "the dead node still has the old one")
    }

    func testAnOldBallotIsRefusedOnceAHigherOneWasPromised() {
        var acceptors = Dictionary(uniqueKeysWithValues: three.map { ($0, ConfigAcceptor()) })
        var high = ConfigChange(shard: 0, members: three, ballot: Ballot(counter: 5, node: "n3")) { _ in ShardConfig(epoch: 0, primary: "n3", isr: ["n3"]) }
        _ = run(&high, &acceptors, reachable: three)
        var low = ConfigChange(shard: 0, members: three, ballot: Ballot(counter: 4, node: "n1")) { _ in ShardConfig(epoch: 0, primary: "n1", isr: ["n1"]) }
        guard case .abandoned(_, let seen) = run(&low, &acceptors, reachable: three) else { return XCTFail("the low ballot committed") }
        XCTAssertEqual(seen, Ballot(counter: 5, node: "n3"), "the proposer learns the ballot to beat")
    }

    func testWithoutAMajorityNothingIsProposed() {
        var change = ConfigChange(shard: 0, members: three, ballot: Ballot(counter: 1, node: "n1")) { _ in ShardConfig(epoch: 0, primary: "n1", isr: ["n1"]) }
        XCTAssertEqual(change.onPrepare(from: "n1", .promise(accepted: nil, acceptedBallot: .zero)), .wait)
        XCTAssertEqual(change.onPrepare(from: "n1", .promise(accepted: nil, acceptedBallot: .zero)), .wait, "the same node twice is one answer")
        XCTAssertEqual(change.onPrepare(from: "nX", .promise(accepted: nil, acceptedBallot: .zero)), .wait, "a non-member does not count")
    }

    func testARuleWithNothingToChangeAbandons() {
        var change = ConfigChange(shard: 0, members: three, ballot: Ballot(counter: 1, node: "n1")) { _ in nil }
        _ = change.onPrepare(from: "n1", .promise(accepted: nil, acceptedBallot: .zero))
        guard case .abandoned(let reason, _) = change.onPrepare(from: "n2", .promise(accepted: nil, acceptedBallot: .zero)) else { return XCTFail() }
        XCTAssertEqual(reason, "nothing to change")
    }

    /// Random interleavings of competing changes over five acceptors with lost messages: the
    /// values ever accepted by a majority (chosen) lie on one line of descent, each built
    /// (directly, or through values only a minority accepted) on the one before, so a new
    /// primary always starts from the last committed ISR.
    func testChosenConfigsFormOneChainUnderRandomInterleavings() {
        var seed: UInt64 = 0x5EED
        func random(_ n: Int) -> Int {
            seed = seed &* 6364136223846793005 &+ 1442695040888963407
            return Int(seed >> 33) % n
        }
        let five = ["n1", "n2", "n3", "n4", "n5"]
        for trial in 0..<1_000 {
            var acceptors = Dictionary(uniqueKeysWithValues: five.map { ($0, ConfigAcceptor()) })
            var acceptedBy: [Ballot: (ShardConfig, Set<String>)] = [:]
            var changes: [ConfigChange] = []
            var pending: [(change: Int, node: String)] = []
            var accepting: [Int: (Ballot, ShardConfig)] = [:]
            // Changes start at random times with rising ballots; each records what it built on.
            for _ in 0..<(3 + random(4)) {
                let node = five[random(5)]
                let ballot = Ballot(counter: Int64(changes.count + 1 + random(3)), node: node)
                changes.append(ConfigChange(shard: 0, members: five, ballot: ballot) { current in
                    ShardConfig(epoch: 0, primary: node, isr: ["built-on:" + (current.map { "\($0.epoch)/\($0.primary)/\($0.isr.joined(separator: ";"))" } ?? "nothing")])
                })
                pending += five.map { (changes.count - 1, $0) }
            }
            var steps = 0
            while !pending.isEmpty, steps < 1_000 {
                steps += 1
                let (c, node) = pending.remove(at: random(pending.count))
                if random(8) == 0 { continue }   // lost
                let action: ConfigChange.Action
                if let (ballot, config) = accepting[c] {
                    let ok = acceptors[node]!.accept(shard: 0, ballot: ballot, config: config)
                    if ok { acceptedBy[ballot, default: (config, [])].1.insert(node) }
                    action = changes[c].onAccept(from: node, accepted: ok)
                } else {
                    action = changes[c].onPrepare(from: node, acceptors[node]!.prepare(shard: 0, ballot: changes[c].ballot))
                }
                if case .accept(let ballot, let config) = action {
                    accepting[c] = (ballot, config)
                    pending += five.map { (c, $0) }
                }
            }
            let chosen = acceptedBy.values.filter { $0.1.count >= 3 }.map(\.0).sorted { $0.epoch < $1.epoch }
            XCTAssertEqual(Set(chosen.map(\.epoch)).count, chosen.count, "trial \(trial): two chosen configs share an epoch: \(chosen)")
            for (previous, config) in zip(chosen, chosen.dropFirst()) {
                let ancestor = "\(previous.epoch)/\(previous.primary)/\(previous.isr.joined(separator: ";"))"
                XCTAssertTrue(config.isr.first?.contains(ancestor) == true,
                              "trial \(trial): \(config) does not descend from the chosen \(previous)")
            }
        }
    }
}
