import Hashing
/// One node's replication logic for every shard, as a pure state machine (docs/REPLICATION.md):
/// its acceptor state for the shards' configuration registers, the changes it proposes
/// (confirm after a restart, failover, isr removals and additions, handovers), the shards it
/// leads (a `ShardPrimary` each), and the epoch fence it applies as a follower.
///
/// Inputs: register messages, membership (ring, live nodes, each shard's node order), local
/// commits, followers' answers, ticks. Outputs: `Action`s the shell carries out in order
/// (persist before send). The same code runs in the node and in the cluster simulation.
public struct ReplicaCore {
    public enum Action: Equatable {
        case send(to: String, ReplicaMessage)
        /// To every other node this one knows of.
        case broadcast(ReplicaMessage)
        /// Read the shard's log entries (after, through] and append them on `to`; its answer
        /// goes to `onAppendReply` with the same epoch and generation.
        case ship(shard: Int, to: String, after: Int64, through: Int64, epoch: Int64, generation: UInt64)
        /// `to` needs a copy of the whole shard.
        case snapshot(shard: Int, to: String, epoch: Int64, generation: UInt64)
        /// The writes up to this LSN are on every in-sync replica: answer their clients.
        case release(shard: Int, through: Int64)
        /// This node no longer leads the shard: drop its unfinished writes, fail their clients
        /// with `unavailable` (they retry, idempotently, at the new primary).
        case stepDown(shard: Int)
        /// This node leads the shard from now on (its work for other shards, the outbox, is
        /// this node's to drive).
        case startLeading(shard: Int)
        /// Store durably before anything after it is sent.
        case persistSlot(shard: Int, ConfigAcceptor.Slot)
        case persistKnown(shard: Int, ShardConfig)
        case persistBallot(Int64)
        case log(String)
    }

    public struct Settings: Sendable {
        /// A change not decided in this time is given up (and may be tried again).
        public var proposalTimeoutMs: Int64 = 1_000
        /// Pause before a shard's next change after one failed, plus up to as much again at
        /// random (two nodes that collided do not collide again).
        public var retryPauseMs: Int64 = 100
        /// An isr member does not take a shard over within this long of the last entry (or
        /// heartbeat) it took from the shard's primary: the promise the primary's lease
        /// (`ShardPrimary.leaseMs`, shorter) rests on.
        public var followerLeaseMs: Int64 = 2_000
        public init() {}
    }

    private struct Proposal {
        var change: ConfigChange
        var kind: ChangeKind
        var deadlineMs: Int64
    }

    private struct Shard {
        /// The newest config this node knows to be committed.
        var view: ShardConfig
        /// A newer config a change of ours found accepted but maybe not committed: only a
        /// reason to try a failover from it.
        var hint: ShardConfig?
        /// The epoch at which this node began leading the shard (answers to appends sent
        /// since then count).
        var leadingSince: Int64 = .max
        var primary: ShardPrimary?
        var proposal: Proposal?
        var queue: [ChangeKind] = []
        var notBeforeMs: Int64 = 0
        /// The highest epoch known committed: entries of an older epoch are refused.
        var fence: Int64 = 0
        /// When this node last took entries of the shard from a primary (the lease promise).
        var lastAppendMs: Int64 = .min
    }

    public let me: String
    public let shardCount: Int
    public let replication: Int
    public let settings: Settings
    public private(set) var acceptor: ConfigAcceptor
    public private(set) var ballotCounter: Int64
    private var shards: [Shard]
    private let initial: [ShardConfig]
    public private(set) var ring: [String] = []
    public private(set) var alive: Set<String> = []
    /// Nodes this node's links cannot reach now, though gossip may say they are alive
    /// (a one-way cut, heavy loss): never chosen as a shard's replica while so.
    public private(set) var unreachable: Set<String> = []
    private var order: (Int) -> [String] = { _ in [] }
    /// The shard's newest log entry on this node (read when it starts leading it).
    public var logHead: (Int) -> Int64
    private var rng: SplitMix64

    /// `initial`: each shard's config before any change (epoch 0: the founders' placement,
    /// all of whose nodes hold the empty shard). `known`: what `persistKnown` stored.
    public init(me: String, shardCount: Int, replication: Int, initial: (Int) -> ShardConfig,
                acceptor: ConfigAcceptor = ConfigAcceptor(), known: [Int: ShardConfig] = [:], ballotCounter: Int64 = 0,
                settings: Settings = Settings(), logHead: @escaping (Int) -> Int64) {
        self.me = me
        self.shardCount = shardCount
        self.replication = replication
        self.settings = settings
        self.acceptor = acceptor
        self.ballotCounter = ballotCounter
        self.logHead = logHead
        let starts = (0..<shardCount).map(initial)
        self.initial = starts
        shards = (0..<shardCount).map { s in
            let start = starts[s]
            let stored = known[s].flatMap { $0.epoch > start.epoch ? $0 : nil } ?? start
            // What was stored was committed (a fence), but it may be old: never a reason to
            // lead without confirming first.
            return Shard(view: stored, fence: stored.epoch)
        }
        rng = SplitMix64(seed: me.utf8.reduce(UInt64(0x9E37_79B9_7F4A_7C15)) { ($0 ^ UInt64($1)) &* 0x100_0000_01B3 })
    }

    // MARK: Queries

    public var hasMajority: Bool {
        let live = ring.filter { alive.contains($0) }.count
        return live >= ring.count / 2 + 1
    }

    /// True when this node serves the shard's reads and writes now: it leads it, is not
    /// handing it over, sees a majority, and holds the lease (`ShardPrimary.leaseValid`).
    public func serves(_ shard: Int, nowMs: Int64) -> Bool {
        guard let p = shards[shard].primary else { return false }
        return p.handingOver == nil && hasMajority && p.leaseValid(nowMs: nowMs)
    }

    /// Where a request for the shard goes: the primary this node knows of, if it is alive.
    public func route(_ shard: Int, nowMs: Int64) -> String? {
        if serves(shard, nowMs: nowMs) { return me }
        let primary = shards[shard].view.primary
        return primary != me && alive.contains(primary) ? primary : nil
    }

    /// Copies an entry needs before it is released: R, or the live ring members when fewer
    /// are alive (then an ack means that many copies: docs/REPLICATION.md).
    public var copiesNeeded: Int {
        max(1, min(replication, ring.filter { alive.contains($0) }.count))
    }

    public func config(_ shard: Int) -> ShardConfig { shards[shard].primary?.config ?? shards[shard].view }
    public func leads(_ shard: Int) -> Bool { shards[shard].primary != nil }
    public func term(_ shard: Int) -> Int64 { shards[shard].primary?.config.epoch ?? shards[shard].view.epoch }
    public func released(_ shard: Int) -> Int64 { shards[shard].primary?.released ?? 0 }
    public func fence(_ shard: Int) -> Int64 { shards[shard].fence }
    public func proposing(_ shard: Int) -> ChangeKind? { shards[shard].proposal?.kind }

    /// The nodes that should hold the shard now: the first `replication` live nodes of its
    /// order that this node's links reach (itself always).
    public func targets(_ shard: Int) -> [String] {
        Array(order(shard).filter { alive.contains($0) && ($0 == me || !unreachable.contains($0)) }.prefix(replication))
    }

    /// Whether this node should keep its copy of the shard for its own reasons.
    public func wantsCopy(_ shard: Int) -> Bool {
        let s = shards[shard]
        return s.primary != nil || s.proposal != nil || s.view.primary == me || s.view.isr.contains(me)
            || targets(shard).contains(me)
    }

    /// Asked by a node holding a copy: does this primary still count on it? nil: not the
    /// primary, ask elsewhere.
    public func needsCopy(_ shard: Int, of node: String) -> (epoch: Int64, needed: Bool)? {
        guard let p = shards[shard].primary else { return nil }
        return (p.config.epoch, p.needsCopy(of: node) || shards[shard].proposal != nil)
    }

    /// Every config this node holds as committed or newer, for a peer that just connected.
    public func table() -> [ReplicaMessage.ShardEntry] {
        (0..<shardCount).compactMap { s in
            let c = config(s)
            return c.epoch > 0 ? .init(shard: s, config: c) : nil
        }
    }

    // MARK: Membership and time

    /// The ring's members (the register's acceptors, dead ones included), the live nodes
    /// (this one too), and each shard's node order (its preference list first).
    public mutating func setMembers(ring: [String], alive: Set<String>, order: @escaping (Int) -> [String], nowMs: Int64) -> [Action] {
        let died = self.alive.subtracting(alive)
        self.ring = ring
        self.alive = alive
        self.order = order
        var out: [Action] = []
        let copies = copiesNeeded
        for s in 0..<shardCount where shards[s].primary != nil {
            for node in died.sorted() { out += primaryActions(s, { $0.onDead(node, nowMs: nowMs) }, nowMs) }
            let t = targets(s)
            out += primaryActions(s, { $0.onTargets(t, nowMs: nowMs) }, nowMs)
            out += primaryActions(s, { $0.setMinCopies(copies, nowMs: nowMs) }, nowMs)
        }
        return out + reconcile(nowMs: nowMs)
    }

    /// The peers this node's links cannot reach now (the shell's view of each link: requests
    /// unanswered for a while). A follower among them is replaced by a stand-in it can reach.
    public mutating func setUnreachable(_ nodes: Set<String>, nowMs: Int64) -> [Action] {
        guard nodes != unreachable else { return [] }
        unreachable = nodes
        var out: [Action] = []
        for s in 0..<shardCount where shards[s].primary != nil {
            let t = targets(s)
            out += primaryActions(s, { $0.onTargets(t, nowMs: nowMs) }, nowMs)
        }
        return out
    }

    public mutating func tick(nowMs: Int64) -> [Action] {
        var out: [Action] = []
        for s in 0..<shardCount {
            if let p = shards[s].proposal, nowMs >= p.deadlineMs {
                out += ended(s, kind: p.kind, committed: nil, reason: "no majority answered in time", nowMs: nowMs)
            }
            if shards[s].primary != nil { out += primaryActions(s, { $0.onTick(nowMs: nowMs) }, nowMs) }
        }
        return out + reconcile(nowMs: nowMs)
    }

    /// The changes this node's view calls for: confirm what it leads but has not confirmed in
    /// this life, take over a shard whose primary is dead, and start what is queued.
    private mutating func reconcile(nowMs: Int64) -> [Action] {
        guard !ring.isEmpty else { return [] }
        var out: [Action] = []
        for s in 0..<shardCount {
            let view = latest(s)
            if shards[s].primary == nil, shards[s].proposal == nil, shards[s].queue.isEmpty {
                if view.primary == me {
                    shards[s].queue.append(.confirm)
                } else if !alive.contains(view.primary), view.isr.contains(me),
                          shards[s].lastAppendMs <= nowMs - settings.followerLeaseMs,
                          order(s).first(where: { view.isr.contains($0) && alive.contains($0) }) == me {
                    shards[s].queue.append(.failover(dead: view.primary))
                } else if let hint = shards[s].hint, hint.epoch > shards[s].view.epoch {
                    shards[s].queue.append(.adopt)
                }
            }
            if shards[s].proposal == nil, !shards[s].queue.isEmpty, nowMs >= shards[s].notBeforeMs, hasMajority {
                out += propose(s, shards[s].queue.removeFirst(), nowMs: nowMs)
            }
        }
        return out
    }

    /// The newest config this node has seen: the committed view, or a newer hint.
    private func latest(_ s: Int) -> ShardConfig {
        shards[s].hint.flatMap { $0.epoch > shards[s].view.epoch ? $0 : nil } ?? shards[s].view
    }

    // MARK: Proposing

    private mutating func propose(_ s: Int, _ kind: ChangeKind, nowMs: Int64) -> [Action] {
        ballotCounter += 1
        let ballot = Ballot(counter: ballotCounter, node: me)
        let me = self.me, start = initial[s]
        let change = ConfigChange(shard: s, members: ring, ballot: ballot) { current in
            kind.next(current: current ?? start, me: me)
        }
        shards[s].proposal = Proposal(change: change, kind: kind, deadlineMs: nowMs + settings.proposalTimeoutMs)
        var out: [Action] = [.persistBallot(ballotCounter), .log("shard \(s): proposing \(kind) (ballot \(ballot))")]
        for node in ring where node != me { out.append(.send(to: node, .prepare(shard: s, ballot: ballot))) }
        if ring.contains(me) {
            let me = self.me
            let answer = acceptor.prepare(shard: s, ballot: ballot)
            out.append(.persistSlot(shard: s, acceptor.slots[s] ?? ConfigAcceptor.Slot()))
            out += changeAction(s, nowMs: nowMs) { $0.onPrepare(from: me, answer) }
        }
        return out
    }

    private mutating func changeAction(_ s: Int, nowMs: Int64, _ step: (inout ConfigChange) -> ConfigChange.Action) -> [Action] {
        guard var proposal = shards[s].proposal else { return [] }
        let action = step(&proposal.change)
        shards[s].proposal = proposal
        switch action {
        case .wait:
            return []
        case .accept(let ballot, let config):
            let me = self.me
            var out: [Action] = []
            for node in ring where node != me { out.append(.send(to: node, .accept(shard: s, ballot: ballot, config: config))) }
            if ring.contains(me) {
                let ok = acceptor.accept(shard: s, ballot: ballot, config: config)
                if ok { out.append(.persistSlot(shard: s, acceptor.slots[s]!)) }
                out += changeAction(s, nowMs: nowMs) { $0.onAccept(from: me, accepted: ok) }
            }
            return out
        case .committed(let config):
            return ended(s, kind: proposal.kind, committed: config, reason: "", nowMs: nowMs)
        case .abandoned(let reason, let seen):
            ballotCounter = max(ballotCounter, seen.counter)
            if let observed = proposal.change.observed, observed.epoch > shards[s].view.epoch {
                shards[s].hint = observed
            }
            return ended(s, kind: proposal.kind, committed: nil, reason: reason, nowMs: nowMs)
        }
    }

    /// A change ended: committed (learn it, tell everyone) or not (allow a retry later).
    private mutating func ended(_ s: Int, kind: ChangeKind, committed: ShardConfig?, reason: String, nowMs: Int64) -> [Action] {
        shards[s].proposal = nil
        if let config = committed {
            return [.log("shard \(s): \(kind) committed: \(config)"), .broadcast(.learn(shard: s, config: config))]
                + learn(s, config, fresh: true, nowMs: nowMs)
        }
        shards[s].notBeforeMs = nowMs + settings.retryPauseMs + Int64(rng.below(Int(settings.retryPauseMs) + 1))
        var out: [Action] = [.log("shard \(s): \(kind) not committed: \(reason)")]
        let latest = latest(s)
        let roleLost = kind.next(current: latest, me: me) == nil
        switch kind {
        case .handover:
            out += primaryActions(s, { p in p.handoverFailed(); return [] }, nowMs)
        case .remove(let node):
            out += primaryActions(s, { p in p.removalFailed(node); return [] }, nowMs)
        case .add:
            // It stays required (the change may still take effect); try again.
            if !roleLost, shards[s].primary != nil { shards[s].queue.append(kind) }
        case .confirm, .failover, .adopt:
            break   // reconcile proposes again if the view still calls for it
        }
        if roleLost, shards[s].primary != nil, latest.primary != me {
            out += stepDown(s, why: "the register names \(latest.primary)")
        }
        return out
    }

    // MARK: Messages

    public mutating func onMessage(from node: String, _ message: ReplicaMessage, nowMs: Int64) -> [Action] {
        switch message {
        case .prepare(let s, let ballot):
            let answer = acceptor.prepare(shard: s, ballot: ballot)
            return [.persistSlot(shard: s, acceptor.slots[s] ?? ConfigAcceptor.Slot()),
                    .send(to: node, .promise(shard: s, ballot: ballot, answer: answer))]
        case .accept(let s, let ballot, let config):
            let ok = acceptor.accept(shard: s, ballot: ballot, config: config)
            return (ok ? [.persistSlot(shard: s, acceptor.slots[s]!)] : [])
                + [.send(to: node, .accepted(shard: s, ballot: ballot, ok: ok))]
        case .promise(let s, let ballot, let answer):
            guard shards[s].proposal?.change.ballot == ballot else { return [] }
            return changeAction(s, nowMs: nowMs) { $0.onPrepare(from: node, answer) }
        case .accepted(let s, let ballot, let ok):
            guard shards[s].proposal?.change.ballot == ballot else { return [] }
            return changeAction(s, nowMs: nowMs) { $0.onAccept(from: node, accepted: ok) }
        case .learn(let s, let config):
            return learn(s, config, fresh: true, nowMs: nowMs)
        case .table(let entries):
            return entries.flatMap { learn($0.shard, $0.config, fresh: false, nowMs: nowMs) }
        }
    }

    /// A committed config. `fresh`: committed while this node was running (a change's own
    /// commit or its `learn` message), so this node may lead by it; a table entry only
    /// informs the view (this node confirms before leading).
    private mutating func learn(_ s: Int, _ config: ShardConfig, fresh: Bool, nowMs: Int64) -> [Action] {
        guard s >= 0, s < shardCount else { return [] }
        var out: [Action] = []
        if config.epoch > shards[s].view.epoch || (config.epoch == shards[s].view.epoch && fresh) {
            if config.epoch > shards[s].view.epoch { out.append(.persistKnown(shard: s, config)) }
            shards[s].view = config
        }
        if let hint = shards[s].hint, hint.epoch <= shards[s].view.epoch { shards[s].hint = nil }
        shards[s].fence = max(shards[s].fence, config.epoch)
        if let p = shards[s].primary {
            if config.epoch > p.config.epoch {
                if config.primary == me {
                    out += primaryActions(s, { $0.onConfig(config, nowMs: nowMs) }, nowMs)
                } else {
                    out += stepDown(s, why: "\(config.primary) leads it from epoch \(config.epoch)")
                }
            }
        } else if fresh, config.primary == me, config.epoch >= shards[s].view.epoch {
            shards[s].primary = ShardPrimary(me: me, config: config, lastLSN: logHead(s), targets: targets(s),
                                             minCopies: copiesNeeded, nowMs: nowMs)
            shards[s].leadingSince = config.epoch
            shards[s].hint = nil
            out.append(.log("shard \(s): leading it at epoch \(config.epoch)"))
            out.append(.startLeading(shard: s))
            let t = targets(s)
            out += primaryActions(s, { $0.onTargets(t, nowMs: nowMs) }, nowMs)
        }
        return out
    }

    // MARK: Leading

    public mutating func onLocalCommit(shard s: Int, lsn: Int64, nowMs: Int64) -> [Action] {
        primaryActions(s, { $0.onLocalCommit(lsn: lsn, nowMs: nowMs) }, nowMs)
    }

    /// A follower's answer to an append sent under `epoch`. `matches`: for a mismatch, whether
    /// this node's log holds the follower's last entry with that term (the shell looks).
    /// `sentAtMs`: when the answered request was sent (it renews the primary's lease).
    public mutating func onAppendReply(shard s: Int, from node: String, epoch: Int64, generation: UInt64, _ reply: AppendReply,
                                       matches: Bool, sentAtMs: Int64 = .min, nowMs: Int64) -> [Action] {
        guard shards[s].primary != nil, epoch >= shards[s].leadingSince else { return [] }
        switch reply {
        case .ack(let lsn):
            return primaryActions(s, { $0.onAck(from: node, lsn: lsn, generation: generation, sentAtMs: sentAtMs, nowMs: nowMs) }, nowMs)
        case .mismatch(let lsn, _):
            return primaryActions(s, { $0.onMismatch(from: node, lastLSN: lsn, matches: matches, generation: generation,
                                                     sentAtMs: sentAtMs, nowMs: nowMs) }, nowMs)
        case .refuse(let epoch):
            shards[s].fence = max(shards[s].fence, epoch)
            // A refusal ends a snapshot transfer too (the follower took nothing).
            return primaryActions(s, { p in p.onSnapshotFailed(to: node, generation: generation); return p.onRefused(epoch: epoch) },
                                  nowMs)
        }
    }

    public mutating func onSnapshotFailed(shard s: Int, to node: String, generation: UInt64) {
        shards[s].primary?.onSnapshotFailed(to: node, generation: generation)
    }

    private mutating func primaryActions(_ s: Int, _ step: (inout ShardPrimary) -> [ShardPrimary.Action], _ nowMs: Int64) -> [Action] {
        guard var p = shards[s].primary else { return [] }
        let actions = step(&p)
        shards[s].primary = p
        var out: [Action] = []
        for action in actions {
            switch action {
            case .ship(let to, let after, let through, let generation):
                out.append(.ship(shard: s, to: to, after: after, through: through, epoch: p.config.epoch, generation: generation))
            case .snapshot(let to, let generation):
                out.append(.snapshot(shard: s, to: to, epoch: p.config.epoch, generation: generation))
            case .release(let through):
                out.append(.release(shard: s, through: through))
            case .proposeRemoval(let node): enqueue(s, .remove(node))
            case .proposeAddition(let node): enqueue(s, .add(node))
            case .proposeHandover(let to): enqueue(s, .handover(to: to))
            case .deposed(let epoch):
                shards[s].fence = max(shards[s].fence, epoch)
                out += stepDown(s, why: "a follower knows epoch \(epoch)")
            }
        }
        return out
    }

    private mutating func enqueue(_ s: Int, _ kind: ChangeKind) {
        if !shards[s].queue.contains(kind), shards[s].proposal?.kind != kind { shards[s].queue.append(kind) }
    }

    private mutating func stepDown(_ s: Int, why: String) -> [Action] {
        guard shards[s].primary != nil else { return [] }
        shards[s].primary = nil
        shards[s].leadingSince = .max
        shards[s].queue.removeAll { if case .failover = $0 { return false }; return $0 != .confirm }
        return [.log("shard \(s): no longer leading it: \(why)"), .stepDown(shard: s)]
    }

    // MARK: Following

    /// Entries from a primary that wrote them under `epoch`: false (refuse, answer with our
    /// fence) when a newer epoch is known. A newer epoch than ours fences us in turn.
    public mutating func admitAppend(shard s: Int, epoch: Int64, from node: String, nowMs: Int64) -> (admitted: Bool, actions: [Action]) {
        guard s >= 0, s < shardCount else { return (false, []) }
        if epoch < shards[s].fence || (shards[s].primary.map { epoch <= $0.config.epoch } ?? false) {
            return (false, [])
        }
        shards[s].fence = epoch
        shards[s].lastAppendMs = max(shards[s].lastAppendMs, nowMs)
        var out: [Action] = []
        if shards[s].primary != nil { out += stepDown(s, why: "\(node) writes it at epoch \(epoch)") }
        return (true, out)
    }
}
