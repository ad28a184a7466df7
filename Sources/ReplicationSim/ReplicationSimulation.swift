import Hashing
import Chat
import Gossip
import Replication
import Ring
import Simulation
import Store

/// Something scheduled on the simulation's timeline.
enum Event {
    // Addressed to one life of a node (lost if it crashed or restarted since).
    /// A timer of the process's shells (`SimTimers`).
    case timer(node: Int, life: Int, id: UInt64)
    case deliver(to: Int, life: Int, from: Int, NodeMessage)
    case clientArrives(node: Int, life: Int, ClientWrite)
    // The world around the nodes.
    /// A node redials a peer whose connection dropped.
    case reconnect(from: Int, to: Int, life: Int)
    case membershipSweep
    case clientAttempt(sendID: Int)
    case clientAnswer(ClientWrite, WriteOutcome, node: Int)
    case clientTimeout(sendID: Int, attempt: Int)
    // Scripted clients: group admins, tippers (Scripts.swift).
    case scriptAttempt(client: Int)
    case scriptArrives(node: Int, life: Int, ScriptWrite)
    case scriptAnswer(ScriptWrite, Result<StepOutcome, ChatError>)
    case scriptTimeout(ScriptWrite)
    case fault(Fault)

    /// Messages (as opposed to timers) fill a paused node's socket buffers.
    var isMessage: Bool {
        switch self {
        case .deliver, .clientArrives, .scriptArrives: return true
        default: return false
        }
    }
}

/// A whole Relay cluster in one process, driven by a seed: N nodes, each running the
/// production shells (`ShardService` with the chat rules and the outbox, `Replicator` with its
/// `ReplicaCore`, `ClusterRouter`, `PeerDispatch`) over a simulated clock (`SimTimers`),
/// network (`SimPeer` through the gossip simulator's `NetworkModel`: delay, loss, partitions)
/// and disk (in-memory SQLite shard databases that survive a crash, as committed files do), a
/// membership oracle standing in for gossip, clients that send and retry, and faults
/// (crashes, pauses, partitions, loss, slow links). The same seed replays the same run, event
/// for event; `finish()` holds the outcome to the invariants in `Invariant`.
public final class ReplicationSimulation {
    public let seed: UInt64
    public let settings: SimSettings
    /// Node names, "n1"..."nN"; a node's index is its position here.
    public let names: [String]
    public internal(set) var nowMs: Int64 = 0
    /// The simulation's wall clock starts here (a fixed instant, so runs replay).
    static let epochMs: Int64 = 1_763_700_000_000
    let shardMap: ShardMap
    /// Where the founders' placement puts each shard (every node starts from it).
    let placement: Placement

    var nodes: [SimNode] = []
    var network: NetworkModel
    var queue = EventQueue<Event>()
    var oracle: MembershipOracle
    var trace: Trace
    var ledger = AckLedger()
    var clients: [ClientSend] = []
    /// The scripted clients: group admins and tippers (Scripts.swift).
    var scripts: [ScriptClient] = []
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
    /// One-way loss in force (1: a cut), per directed link.
    var linkLoss: [LinkKey: Double] = [:]
    var lastDelivery: [[Int64]]
    /// linkBroken[a][b]: a's connection to b dropped (it lost a message) and a has not
    /// redialed yet.
    var linkBroken: [[Bool]]

    // Independent streams, so that (say) extra client traffic does not change the faults.
    var netRng: SplitMix64
    var clientRng: SplitMix64
    var memberRng: SplitMix64
    var scriptRng: SplitMix64

    let indexOf: [String: Int]

    public init(seed: UInt64, settings: SimSettings, verbose: Bool = false, sink: @escaping (String) -> Void = { print($0) }) {
        precondition(settings.replication <= settings.nodeCount, "R \(settings.replication) > \(settings.nodeCount) nodes")
        self.seed = seed
        self.settings = settings
        let n = settings.nodeCount
        names = (1...n).map { "n\($0)" }
        indexOf = Dictionary(uniqueKeysWithValues: names.enumerated().map { ($1, $0) })
        shardMap = try! ShardMap(shardCount: settings.shardCount)
        var founding = Placement(nodes: [], shardCount: settings.shardCount, replication: settings.replication)
        for name in names.sorted() { founding = founding.adding(name) }
        placement = founding
        network = NetworkModel(defaultLink: settings.link)
        oracle = MembershipOracle(count: n, settings: settings)
        trace = Trace(verbose: verbose, sink: sink)
        history = Array(repeating: [], count: settings.shardCount)
        lastDelivery = Array(repeating: Array(repeating: 0, count: n), count: n)
        linkBroken = Array(repeating: Array(repeating: false, count: n), count: n)
        netRng = SplitMix64(seed: seed ^ 0x4E37_0000_0000_0004)
        clientRng = SplitMix64(seed: seed ^ 0xC11E_0000_0000_0005)
        memberRng = SplitMix64(seed: seed ^ 0x3E3B_0000_0000_0006)
        scriptRng = SplitMix64(seed: seed ^ 0x6209_0000_0000_0008)
        let keep = Int64(settings.logKeepEntries ?? Int(ShardStore.defaultLogEntries))
        nodes = names.enumerated().map { SimNode(index: $0, name: $1, keepLogEntries: keep) }
        for i in 0..<n { boot(i, start: false) }
        for node in nodes { node.process?.replicator.start() }
        queue.schedule(.membershipSweep, at: Instant(ms: settings.membershipSweepMs))
        scheduleWorkload()
        scheduleScripts()
        for step in FaultPlan.make(seed: seed, settings: settings).steps {
            queue.schedule(.fault(step.fault), at: Instant(ms: step.atMs))
        }
        note(nil, "seed \(seed): \(settings)")
        for s in 0..<settings.shardCount { note(nil, "shard \(s) preference list \(preferred(s).joined(separator: ","))") }
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
        case .timer(let n, let life, _), .deliver(let n, let life, _, _), .clientArrives(let n, let life, _),
             .scriptArrives(let n, let life, _):
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
        case .scriptAttempt(let c):
            scriptAttempt(c)
        case .scriptAnswer(let write, let result):
            scriptAnswered(write, result)
        case .scriptTimeout(let write):
            scriptTimedOut(write)
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
        case .timer(_, _, let id):
            p.timers.fire(id)
        case .deliver(_, _, let from, let message):
            receive(n, p, from: from, message)
        case .clientArrives(_, _, let write):
            clientArrived(n, p, write)
        case .scriptArrives(_, _, let write):
            scriptArrived(n, p, write)
        default:
            preconditionFailure("not a node event: \(event)")
        }
    }

    /// Rounds of group commit per turn at most (as `ShardService.commitAll`, repeated while it
    /// says writes are still waiting).
    static let maxCommitRoundsPerTurn = 8

    /// The end of a loop turn (one simulated millisecond): every running node commits its
    /// open transactions and answers or holds the replies that waited for them.
    private func endOfTurn() {
        for node in nodes {
            guard case .running(let p) = node.status else { continue }
            for _ in 0..<Self.maxCommitRoundsPerTurn where p.service.commitAll() {}
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
            // The TCP connection that carried it broke: the requests waiting on it fail
            // (`PeerError.closed`), on the requester's side.
            if case .response = message {
                nodes[to].process?.peer.connectionBroke(with: from)
            } else {
                nodes[from].process?.peer.connectionBroke(with: to)
            }
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

    // MARK: Placement and conversations

    /// The shard a conversation lives on (the real `ShardMap`).
    public func shard(of conversation: Int) -> Int { shardMap.shard(for: .conversation(conversationID(conversation))) }

    /// A conversation on the given shard, at or above `from`.
    public func conversation(onShard shard: Int, from: Int = 1_000_000) -> Int {
        var c = from
        while self.shard(of: c) != shard { c += 1 }
        return c
    }

    /// Conversation `c` is the direct chat of users `ua<c>` and `ub<c>`.
    public func conversationID(_ c: Int) -> String { "dm:ua\(c):ub\(c)" }
    func conversationMembers(_ c: Int) -> (String, String) { ("ua\(c)", "ub\(c)") }

    /// The simulation's number of a stored conversation id (nil: not one of its chats).
    func conversationNumber(_ id: String) -> Int? {
        guard id.hasPrefix("dm:ua"), let colon = id.dropFirst(5).firstIndex(of: ":") else { return nil }
        return Int(id[id.index(id.startIndex, offsetBy: 5)..<colon])
    }

    /// The shard's preference list: where the founders' placement puts it.
    public func preferred(_ shard: Int) -> [String] { placement.preferenceList(shard: shard) }

    /// The epoch-0 config every node starts from: the founders hold every shard, empty.
    func initialConfig(_ shard: Int) -> ShardConfig {
        let list = preferred(shard)
        return ShardConfig(epoch: 0, primary: list.first ?? "", isr: list)
    }
}

/// A directed link between two nodes (by index).
struct LinkKey: Hashable {
    var from: Int
    var to: Int
}

/// Counts for the run's report.
public struct SimStats: Sendable, CustomStringConvertible {
    public init() {}

    public var events = 0
    public var messagesSent = 0
    public var messagesLost = 0
    public var appendsApplied = 0
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
    /// Requests a router tried again (no primary could take them yet): the retry path.
    public var routerRetries = 0
    /// One-way cuts and asymmetric loss spells.
    public var oneWayFaults = 0
    /// Appends a follower refused while it installed a snapshot: the `installing` guard.
    public var refusedWhileInstalling = 0
    /// Outbox job steps run (direct chats' index writes).
    public var jobSteps = 0
    /// Scripted clients' steps answered (group changes, credits, tips), and attempts at them.
    public var scriptSteps = 0
    public var scriptAttempts = 0

    public var description: String {
        "\(sends) sends, \(acked) acked, \(gaveUp) given up, \(attempts) attempts; \(configsCommitted) configs committed, "
            + "\(stepDowns) step-downs, \(snapshotsInstalled) snapshots installed; "
            + "\(crashes) crashes, \(pauses) pauses, \(partitions) partitions; "
            + "\(routerRetries) router retries, \(refusedWhileInstalling) appends refused while installing, \(jobSteps) job steps, \(scriptSteps) scripted steps (\(scriptAttempts) attempts); "
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
