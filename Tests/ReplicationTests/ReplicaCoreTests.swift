import XCTest
import Wire
@testable import Replication

/// Several `ReplicaCore`s wired together by hand: messages are delivered at once (or dropped),
/// logs are just their last LSN. The simulation (ReplicationSimulationTests) covers the rest.
final class ReplicaCoreTests: XCTestCase {
    let nodes = ["n1", "n2", "n3"]
    var cores: [String: ReplicaCore] = [:]
    var heads: [String: Int64] = [:]
    var released: [String: [Int: Int64]] = [:]
    var steppedDown: [String: [Int]] = [:]
    var now: Int64 = 0
    var down: Set<String> = []

    override func setUp() {
        for node in nodes {
            cores[node] = ReplicaCore(me: node, shardCount: 2, replication: 2,
                                      initial: { _ in ShardConfig(epoch: 0, primary: "n1", isr: ["n1", "n2"]) },
                                      logHead: { _ in 0 })
        }
    }

    /// Carries out actions: register messages are delivered at once (to live nodes), ships are
    /// acked as if the follower applied them.
    func run(_ node: String, _ actions: [ReplicaCore.Action]) {
        for action in actions {
            switch action {
            case .send(let to, let message): deliver(from: node, to: to, message)
            case .broadcast(let message): for to in nodes where to != node { deliver(from: node, to: to, message) }
            case .ship(let shard, let to, _, let through, let epoch, let generation):
                guard !down.contains(to) else { continue }
                let (ok, more) = cores[to]!.admitAppend(shard: shard, epoch: epoch, from: node, nowMs: now)
                run(to, more)
                let reply: AppendReply = ok ? .ack(lsn: through) : .refuse(epoch: cores[to]!.fence(shard))
                run(node, cores[node]!.onAppendReply(shard: shard, from: to, epoch: epoch, generation: generation, reply, matches: true,
                                                     sentAtMs: now, nowMs: now))
            case .release(let shard, let through): released[node, default: [:]][shard] = through
            case .stepDown(let shard): steppedDown[node, default: []].append(shard)
            case .snapshot, .persistSlot, .persistKnown, .persistBallot, .log, .startLeading: break
            }
        }
    }

    func deliver(from: String, to: String, _ message: ReplicaMessage) {
        guard !down.contains(to), !down.contains(from) else { return }
        run(to, cores[to]!.onMessage(from: from, message, nowMs: now))
    }

    func membership(alive: Set<String>) {
        for node in nodes where !down.contains(node) {
            run(node, cores[node]!.setMembers(ring: nodes, alive: alive, order: { _ in ["n1", "n2", "n3"] }, nowMs: now))
        }
    }

    func tick(_ ms: Int64 = 100) {
        now += ms
        for node in nodes where !down.contains(node) { run(node, cores[node]!.tick(nowMs: now)) }
    }

    func testTheFirstNodeConfirmsAndLeadsEveryShardAtANewEpoch() {
        membership(alive: Set(nodes))
        XCTAssertTrue(cores["n1"]!.serves(0, nowMs: now))
        XCTAssertEqual(cores["n1"]!.config(0).epoch, 1)
        XCTAssertEqual(cores["n2"]!.route(0, nowMs: now), "n1", "the others learned it")
        XCTAssertFalse(cores["n2"]!.serves(0, nowMs: now))
    }

    func testACommitIsReleasedOnlyOnceTheReplicaAcked() {
        membership(alive: Set(nodes))
        run("n1", cores["n1"]!.onLocalCommit(shard: 0, lsn: 1, nowMs: now))
        XCTAssertEqual(released["n1"]?[0], 1)
        // With the replica unreachable, nothing more is released until it is removed.
        down.insert("n2")
        run("n1", cores["n1"]!.onLocalCommit(shard: 0, lsn: 2, nowMs: now))
        XCTAssertEqual(released["n1"]?[0], 1)
        membership(alive: ["n1", "n3"])
        tick()
        XCTAssertFalse(cores["n1"]!.config(0).isr.contains("n2"), "the dead replica was removed through the register")
        XCTAssertEqual(released["n1"]?[0], 2)
        XCTAssertEqual(cores["n1"]!.config(0).isr, ["n1", "n3"], "and a stand-in filled, so there are two copies again")
    }

    func testWhenThePrimaryDiesItsReplicaTakesOverAndTheOldOneIsFenced() {
        membership(alive: Set(nodes))
        run("n1", cores["n1"]!.onLocalCommit(shard: 0, lsn: 1, nowMs: now))
        down.insert("n1")
        membership(alive: ["n2", "n3"])
        tick()
        XCTAssertFalse(cores["n2"]!.serves(0, nowMs: now), "not within the lease n2 promised n1 (its last entry from it)")
        tick(ReplicaCore.Settings().followerLeaseMs)
        XCTAssertTrue(cores["n2"]!.serves(0, nowMs: now))
        XCTAssertEqual(cores["n2"]!.config(0).primary, "n2")
        XCTAssertGreaterThan(cores["n2"]!.config(0).epoch, 1)
        // n1 wakes up still believing it leads: its next entry is refused, it steps down.
        down.remove("n1")
        run("n1", cores["n1"]!.onLocalCommit(shard: 0, lsn: 2, nowMs: now))
        XCTAssertEqual(steppedDown["n1"], [0])
        XCTAssertFalse(cores["n1"]!.serves(0, nowMs: now))
        XCTAssertEqual(released["n1"]?[0], 1, "nothing of the deposed term was released")
    }

    func testANodeWithoutAMajorityServesNothing() {
        membership(alive: Set(nodes))
        XCTAssertTrue(cores["n1"]!.serves(0, nowMs: now))
        run("n1", cores["n1"]!.setMembers(ring: nodes, alive: ["n1"], order: { _ in self.nodes }, nowMs: now))
        XCTAssertFalse(cores["n1"]!.hasMajority)
        XCTAssertFalse(cores["n1"]!.serves(0, nowMs: now))
    }

    func testAStoredConfigIsConfirmedBeforeTheNodeLeadsAgain() {
        let stored = ShardConfig(epoch: 5, primary: "n1", isr: ["n1", "n2"])
        let core = ReplicaCore(me: "n1", shardCount: 1, replication: 2, initial: { _ in ShardConfig(epoch: 0, primary: "n1", isr: ["n1"]) },
                               known: [0: stored], logHead: { _ in 0 })
        XCTAssertFalse(core.serves(0, nowMs: 0), "a restarted node does not lead from what it stored")
        XCTAssertEqual(core.fence(0), 5, "but what it stored was committed: older entries are refused")
    }

    func testRegisterMessagesRoundTripAndGarbageIsRefused() throws {
        let config = ShardConfig(epoch: 7, primary: "n2", isr: ["n2", "n3"])
        let messages: [ReplicaMessage] = [
            .prepare(shard: 3, ballot: Ballot(counter: 9, node: "n1")),
            .promise(shard: 3, ballot: Ballot(counter: 9, node: "n1"), answer: .promise(accepted: config, acceptedBallot: Ballot(counter: 2, node: "n2"))),
            .promise(shard: 3, ballot: Ballot(counter: 9, node: "n1"), answer: .promise(accepted: nil, acceptedBallot: .zero)),
            .promise(shard: 3, ballot: Ballot(counter: 9, node: "n1"), answer: .reject(promised: Ballot(counter: 11, node: "n3"))),
            .accept(shard: 1, ballot: Ballot(counter: 4, node: "n2"), config: config),
            .accepted(shard: 1, ballot: Ballot(counter: 4, node: "n2"), ok: true),
            .learn(shard: 0, config: config),
            .table([.init(shard: 0, config: config), .init(shard: 2, config: config)]),
        ]
        for m in messages { XCTAssertEqual(try ReplicaCodec.decode(ReplicaCodec.encode(m), maxShard: 4), m) }
        XCTAssertThrowsError(try ReplicaCodec.decode(ReplicaCodec.encode(.learn(shard: 9, config: config)), maxShard: 4))
        XCTAssertThrowsError(try ReplicaCodec.decode([9, 0, 0], maxShard: 4))
        XCTAssertThrowsError(try ReplicaCodec.decode(ReplicaCodec.encode(messages[4]) + [0], maxShard: 4))
        var rng = SystemRandomNumberGenerator()
        for _ in 0..<2_000 {
            var bytes = ReplicaCodec.encode(messages[Int.random(in: 0..<messages.count, using: &rng)])
            bytes[Int.random(in: 0..<bytes.count, using: &rng)] = UInt8.random(in: 0...255, using: &rng)
            _ = try? ReplicaCodec.decode(bytes, maxShard: 4)   // never traps
        }
    }
}
