import Hashing
import Gossip
import Replication
import Simulation

/// Something scheduled on the simulation's timeline.
enum Event {
    // Addressed to one life of a node (lost if it crashed or restarted since).
    case tick(node: Int, life: Int)
    case deliver(to: Int, life: Int, from: Int, NodeMessage)
    case clientArrives(node: Int, life: Int, ClientWrite)
    case routerRetry(node: Int, life: Int, ClientWrite, deadlineMs: Int64)
    case snapshotTimeout(node: Int, life: Int, shard: Int, to: Int, id: Int, generation: UInt64)
    // The world around the nodes.
    /// A node redials a peer whose connection dropped.
    case reconnect(from: Int, to: Int, life: Int)
    case membershipSweep
    case clientAttempt(sendID: Int)
    case clientAnswer(ClientWrite, WriteOutcome, node: Int)
    case clientTimeout(sendID: Int, attempt: Int)
    case fault(Fault)

    /// Messages (as opposed to timers) fill a paused node's socket buffers.
    var isMessage: Bool {
        switch self {
        case .deliver, .clientArrives: return true
        default: return false
        }
    }
}

/// A whole Relay cluster's replication in one process, driven by a seed: N nodes, each the
/// real `ReplicaCore` inside a shell that mirrors the node's (`Replicator`, `ShardService`,
/// `ClusterRouter`), simulated shard stores, a simulated network (the gossip simulator's
/// `NetworkModel`: delay, loss, partitions), a membership oracle standing in for gossip,
/// clients that send and retry, and faults (crashes, pauses, partitions, loss, slow links).
/// The same seed replays the same run, event for event; `check()` holds the outcome to the
/// invariants in `Invariant`.
public final class ReplicationSimulation {
    public let seed: UInt64
    public let settings: SimSettings
    /// Node names, "n1"..."nN"; a node's index is its position here.
    public let names: [String]
    /// Each shard's node order (a permutation of all nodes; the first R are its preference list).
    public let orders: [[String]]
    public internal(set) var nowMs: Int64 = 0

    var nodes: [SimNode] = []
    var network: NetworkModel
    var queue = EventQueue<Event>()
    var oracle: MembershipOracle
    var trace: Trace
    var ledger = AckLedger()
    var clients: [ClientSend] = []
    /// Sends whose first attempt goes to a chosen node (scenario tests).
    var preferredNode: [Int: Int] = [:]
    /// Every snapshot installed: where, of which shard, when.
    public internal(set) var installedSnapshots: [(node: String, shard: Int, atMs: Int64)] = []
    /// Every ack a node's shard service gave (before any relaying), in order.
    public internal(set) var serviceAcks: [ServiceAck] = []
    public internal(set) var violations: [Violation] = []
    public internal(set) var stats = SimStats()
    /// Every committed config seen, per shard, in epoch order: the register's history.
    public internal(set) var history: [[ShardConfig]]
    /// Extra link delays in force, per slowed node.
    var slowNodes: [Int: Int64] = [:]
    var lastDelivery: [[Int64]]
    /// linkBroken[a][b]: a's connection to b dropped (it lost a message) and a has not
    /// redialed yet.
    var linkBroken: [[Bool]]
    var nextSnapshotID = 0

    // Independent streams, so that (say) extra client traffic does not change the faults.
    var netRng: SplitMix64
    var clientRng: SplitMix64
    var memberRng: SplitMix64

    let orderIndexes: [[Int]]
    let indexOf: [String: Int]

    public init(seed: UInt64, settings: SimSettings, verbose: Bool = false, sink: @escaping (String) -> Void = { print($0) }) {
        precondition(settings.replication <= settings.nodeCount, "R \(settings.replication) > \(settings.nodeCount) nodes")
        self.seed = seed
        self.settings = settings
        let n = settings.nodeCount
        names = (1...n).map { "n\($0)" }
        indexOf = Dictionary(uniqueKeysWithValues: names.enumerated().map { ($1, $0) })
        var placement = SplitMix64(seed: seed ^ 0x0DE7_0000_0000_0003)
        orderIndexes = (0..<settings.shardCount).map { _ in
            var order = Array(0..<n)
            order.shuffle(using: &placement)
            return order
        }
        orders = orderIndexes.map { $0.map { "n\($0 + 1)" } }
        network = NetworkModel(defaultLink: settings.link)
        oracle = MembershipOracle(count: n, settings: settings)
        trace = Trace(verbose: verbose, sink: sink)
        history = Array(repeating: [], count: settings.shardCount)
        lastDelivery = Array(repeating: Array(repeating: 0, count: n), count: n)
        linkBroken = Array(repeating: Array(repeating: false, count: n), count: n)
        netRng = SplitMix64(seed: seed ^ 0x4E37_0000_0000_0004)
        clientRng = SplitMix64(seed: seed ^ 0xC11E_0000_0000_0005)
        memberRng = SplitMix64(seed: seed ^ 0x3E3B_0000_0000_0006)
        nodes = names.enumerated().map { SimNode(index: $0, name: $1, shardCount: settings.shardCount) }
        for i in 0..<n { boot(i) }
        for i in 0..<n { setMembers(i) }
        queue.schedule(.membershipSweep, at: Instant(ms: settings.membershipSweepMs))
        scheduleWorkload()
        for step in FaultPlan.make(seed: seed, settings: settings).steps {
            queue.schedule(.fault(step.fault), at: Instant(ms: step.atMs))
        }
        note(nil, "seed \(seed): \(settings)")
        for s in 0..<settings.shardCount { note(nil, "shard \(s) order \(orders[s].joined(separator: ","))") }
    }

    // MARK: Running

    /// Runs every event up to and including `untilMs`; time ends there.
    public func run(untilMs: Int64) {
        while let next = queue.nextTime, next.ms <= untilMs {
            nowMs = next.ms
            while let t = queue.nextTime, t.ms == nowMs, let (_, event) = queue.popNext() {
                handle(event)
            }
            endOfTurn()
        }
        nowMs = max(nowMs, untilMs)
    }

    public func run(forMs ms: Int64) { run(untilMs: nowMs + ms) }

    /// Runs until `done` holds (checked every `stepMs`) or `limitMs` passed; true if it held.
    @discardableResult
    public func run(until done: () -> Bool, limitMs: Int64, stepMs: Int64 = 100) -> Bool {
        let deadline = nowMs + limitMs
        while !done() {
            guard nowMs < deadline else { return false }
            run(untilMs: min(deadline, nowMs + stepMs))
        }
        return true
    }

    private func handle(_ event: Event) {
        stats.events += 1
        switch event {
        case .tick(let n, let life):
            guard nodes[n].life == life else { return }
            if case .running(let p) = nodes[n].status {
                run(n, p, p.core.tick(nowMs: nowMs))
                p.ticks += 1
                // Anti-entropy (`Replicator.tableEveryTicks`): a node that missed a `learn`
                // hears the config from a random peer within a few seconds.
                if p.ticks % settings.tableEveryTicks == 0 {
                    let peers = oracle.alive(seenBy: n).filter { $0 != n }
                    if !peers.isEmpty { peerUp(n, peers[memberRng.below(peers.count)]) }
                }
            }
            schedule(.tick(node: n, life: life), afterMs: settings.tickIntervalMs)
        case .deliver(let n, let life, _, _), .clientArrives(let n, let life, _), .routerRetry(let n, let life, _, _),
             .snapshotTimeout(let n, let life, _, _, _, _):
            atNode(n, life: life, event)
        case .reconnect(let from, let to, let life):
            reconnect(from, to, life: life)
        case .membershipSweep:
            membershipSweep()
            schedule(.membershipSweep, afterMs: settings.membershipSweepMs)
        case .clientAttempt(let id):
            clientAttempt(id)
        case .clientAnswer(let write, let outcome, let node):
            clientAnswered(write, outcome, node: node)
        case .clientTimeout(let id, let attempt):
            clientTimedOut(id, attempt: attempt)
        case .fault(let fault):
            perform(fault)
        }
    }

    /// An event for one life of a node: lost if that life is over, held while it is paused.
    func atNode(_ n: Int, life: Int, _ event: Event) {
        guard nodes[n].life == life else { return }
        switch nodes[n].status {
        case .crashed:
            return
        case .paused(let p, var backlog):
            if event.isMessage, backlog.lazy.filter(\.isMessage).count >= settings.maxBacklogMessages {
                stats.messagesLost += 1
                return
            }
            backlog.append(event)
            nodes[n].status = .paused(p, backlog: backlog)
        case .running(let p):
            process(n, p, event)
        }
    }

    private func process(_ n: Int, _ p: NodeProcess, _ event: Event) {
        switch event {
        case .deliver(_, _, let from, let message):
            receive(n, p, from: from, message)
        case .clientArrives(_, _, let write):
            routerAttempt(n, p, write, deadlineMs: nowMs + settings.routerRetryBudgetMs)
        case .routerRetry(_, _, let write, let deadline):
            routerAttempt(n, p, write, deadlineMs: deadline)
        case .snapshotTimeout(_, _, let shard, let to, let id, let generation):
            let key = "\(shard)/\(to)"
            guard p.snapshotsOut[key] == id else { return }
            p.snapshotsOut[key] = nil
            note(n, "shard \(shard): the snapshot for \(names[to]) got no answer in time")
            p.core.onSnapshotFailed(shard: shard, to: names[to], generation: generation)
        default:
            preconditionFailure("not a node event: \(event)")
        }
    }

    /// The end of a loop turn (one simulated millisecond): every running node commits its
    /// open transactions and answers or holds the replies that waited for them.
    private func endOfTurn() {
        for node in nodes {
            if case .running(let p) = node.status, p.dirty { commitTurn(node.index, p) }
        }
    }

    func schedule(_ event: Event, afterMs ms: Int64) {
        queue.schedule(event, at: Instant(ms: nowMs + ms))
    }

    // MARK: The network

    /// Sends a message between nodes through the network model: lost to a crashed node, a
    /// partition or the link's loss; otherwise delivered after the link's delay, in order
    /// per link (one TCP connection). `toLife`: the receiver's life the message is meant for
    /// (a reply: the requester's life when it asked).
    ///
    /// Over TCP a lost message means the connection dropped: the sender redials, and when the
    /// connection is up again `peerUp` runs (the sender's table goes to the peer), as
    /// `PeerLink` and `Replicator.peerUp` do.
    func send(from: Int, to: Int, _ message: NodeMessage, toLife: Int? = nil) {
        stats.messagesSent += 1
        guard !nodes[to].isCrashed, let delay = network.transit(from: names[from], to: names[to], rng: &netRng) else {
            stats.messagesLost += 1
            if !linkBroken[from][to] {
                linkBroken[from][to] = true
                schedule(.reconnect(from: from, to: to, life: nodes[from].life),
                         afterMs: settings.reconnectDelayMs + Int64(netRng.below(Int(settings.reconnectDelayMs) + 1)))
            }
            return
        }
        let at = max(nowMs + delay, lastDelivery[from][to])
        lastDelivery[from][to] = at
        queue.schedule(.deliver(to: to, life: toLife ?? nodes[to].life, from: from, message), at: Instant(ms: at))
    }

    /// A redial: the connection comes up if the peer is up and reachable (then `peerUp`);
    /// otherwise the node tries again later. A restarted sender has fresh connections.
    private func reconnect(_ from: Int, _ to: Int, life: Int) {
        guard nodes[from].life == life, linkBroken[from][to] else { return }
        guard nodes[from].isRunning, !nodes[to].isCrashed, network.canReach(from: names[from], to: names[to]) else {
            return schedule(.reconnect(from: from, to: to, life: life), afterMs: settings.reconnectRetryMs)
        }
        linkBroken[from][to] = false
        detail(from, "reconnected to \(names[to])")
        peerUp(from, to)
    }

    // MARK: Tracing

    /// A line for the trace (kept for failure reports, printed in verbose runs).
    func note(_ node: Int?, _ text: String) {
        trace.add(nowMs, node.map { names[$0] } ?? "sim", text)
    }

    /// A line only verbose runs want (per message or per client attempt): not even built
    /// otherwise.
    func detail(_ node: Int?, _ text: @autoclosure () -> String) {
        guard trace.verbose else { return }
        trace.add(nowMs, node.map { names[$0] } ?? "sim", text())
    }

    func violate(_ invariant: Invariant, _ detail: String) {
        record(Violation(invariant: invariant, atMs: nowMs, detail: detail))
    }

    /// Violations kept per run: a broken rule repeats itself thousands of times; the first
    /// ones say what broke.
    public static let maxViolations = 50

    func record(_ v: Violation) {
        if violations.count < Self.maxViolations { violations.append(v) } else { stats.violationsNotKept += 1 }
        note(nil, "VIOLATION \(v)")
    }

    /// The trace's last lines, oldest first.
    public var traceTail: [String] { trace.tail }

    // MARK: Placement

    /// The shard a conversation lives on: a fixed hash, the same on every node.
    public func shard(of conversation: Int) -> Int {
        var z = UInt64(bitPattern: Int64(conversation)) &+ 0x9E37_79B9_7F4A_7C15
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return Int((z ^ (z >> 31)) % UInt64(settings.shardCount))
    }

    /// A conversation id on the given shard, at or above `from`.
    public func conversation(onShard shard: Int, from: Int = 1_000_000) -> Int {
        var c = from
        while self.shard(of: c) != shard { c += 1 }
        return c
    }

    /// The epoch-0 config every node starts from: the founders hold every shard, empty.
    func initialConfig(_ shard: Int) -> ShardConfig {
        let order = orders[shard]
        return ShardConfig(epoch: 0, primary: order[0], isr: Array(order.prefix(settings.replication)))
    }
}

/// Counts for the run's report.
public struct SimStats: Sendable, CustomStringConvertible {
    public init() {}

    public var events = 0
    public var messagesSent = 0
    public var messagesLost = 0
    public var appendsApplied = 0
    public var snapshotsSent = 0
    public var snapshotsInstalled = 0
    public var crashes = 0
    public var pauses = 0
    public var partitions = 0
    public var configsCommitted = 0
    public var stepDowns = 0
    public var sends = 0
    public var attempts = 0
    public var acked = 0
    public var gaveUp = 0
    public var violationsNotKept = 0

    public var description: String {
        "\(sends) sends, \(acked) acked, \(gaveUp) given up, \(attempts) attempts; \(configsCommitted) configs committed, "
            + "\(stepDowns) step-downs, \(snapshotsInstalled)/\(snapshotsSent) snapshots installed/sent; "
            + "\(crashes) crashes, \(pauses) pauses, \(partitions) partitions; "
            + "\(messagesSent) messages (\(messagesLost) lost), \(events) events"
            + (violationsNotKept > 0 ? "; \(violationsNotKept) more violations not kept" : "")
    }
}

/// An ack as the shard service that sequenced the write gave it: which node, at which of its
/// terms. (The client may hear it through another node's router.)
public struct ServiceAck: Sendable, Equatable {
    public var sendID: Int
    public var node: String
    public var term: Int64
    public var seq: Int64
    public var atMs: Int64
}
