/// The primary's side of one shard's replication (docs/REPLICATION.md, "Writes"): which log
/// entries each follower has, what to ship next, and up to which entry the clients' acks
/// may be released. Pure: the shell feeds in local commits, followers' answers and the time,
/// and carries out the actions (reading entries from the shard's log, sending, releasing).
///
/// Safety rule: an entry is released only when every *required* follower acknowledged it.
/// Required = the committed config's isr, plus any node whose addition this primary proposed
/// (the proposal may take effect even if its answer was lost), minus nothing until a smaller
/// isr has committed. Followers that are not required (catching up) are shipped to as well.
/// And the copies rule: nothing is released while fewer than `minCopies` nodes (this one and
/// the required followers) would hold it: R while R nodes are alive, so a follower dropped for
/// a cut link is replaced by a stand-in before writes are acknowledged again.
///
/// Lease (reads and writes): the primary serves only while every other isr member answered a
/// request of its epoch that was sent less than `leaseMs` ago. An isr member promises not to
/// take the shard over within `ReplicaCore.Settings.followerLeaseMs` (longer) of the last entry
/// it took from this primary, so a primary that can no longer be sure it leads stops serving
/// before any other node can start. Idle followers are sent an empty append every
/// `heartbeatMs` to keep the lease.
public struct ShardPrimary: Sendable {
    public enum Action: Sendable, Equatable {
        /// Send the log entries (after, through] of this shard to the follower. Its answer
        /// comes back with the `generation` (see `Follower`).
        case ship(to: String, after: Int64, through: Int64, generation: UInt64)
        /// The follower's copy does not match our log (diverged, or our log no longer reaches
        /// back): send it a snapshot of the shard.
        case snapshot(to: String, generation: UInt64)
        /// Every required follower has the entries up to this LSN: release their acks.
        case release(through: Int64)
        /// Ask the register to drop this follower from the isr (it stopped answering).
        case proposeRemoval(String)
        /// Ask the register to add this caught-up follower to the isr.
        case proposeAddition(String)
        /// The first node of the preference list holds everything: ask the register to make
        /// it primary (a join or a return). Writes pause here until the change is decided.
        case proposeHandover(to: String)
        /// A follower knows a newer epoch: this node is no longer the primary.
        case deposed(epoch: Int64)
    }

    /// Entries sent to one follower and not yet acknowledged, at most: keeps a slow follower
    /// from making the primary read and buffer its whole log at once.
    public static let maxEntriesInFlight: Int64 = 512
    /// A required follower silent for this long while entries wait for it is proposed for
    /// removal from the isr: writes pause at most about this long when a replica dies
    /// before gossip notices.
    public static let followerTimeoutMs: Int64 = 1_500
    /// Entries sent and not acknowledged for this long are sent again (a dropped connection
    /// loses them; the follower skips what it already holds).
    public static let retransmitAfterMs: Int64 = 300
    /// How long an answer from every isr member lets this primary serve: 1.8 s, 10 % under the
    /// followers' 2 s promise (`ReplicaCore.Settings.followerLeaseMs`), for clock-rate drift.
    public static let leaseMs: Int64 = 1_800
    /// An idle follower gets an empty append this often, keeping the lease fresh: a third of
    /// the lease, so two lost heartbeats in a row still do not let it lapse.
    public static let heartbeatMs: Int64 = 600

    public let me: String
    public private(set) var config: ShardConfig
    public private(set) var lastLSN: Int64
    public private(set) var released: Int64

    /// What this primary knows of one follower's log. A follower that is neither required
    /// nor a target is forgotten (it may then drop its copy: `needsCopy`); if it comes back it
    /// gets a new `generation`, and answers to requests sent to an earlier generation are
    /// ignored, so a position it reported before dropping its copy is never believed again.
    private struct Follower: Sendable {
        var generation: UInt64
        var acked: Int64 = -1        // -1: not known yet (ask with an empty append)
        var sent: Int64 = -1
        var lastHeardMs: Int64
        var lastSentMs: Int64 = 0
        /// When the newest request it answered under this epoch was sent (the lease).
        var leaseFrom: Int64 = .min
        var snapshotting = false
    }
    private var followers: [String: Follower] = [:]
    private var nextGeneration: UInt64 = 1
    /// Additions this primary proposed: required from the moment of proposing.
    private var proposedAdditions: Set<String> = []
    private var proposedRemovals: Set<String> = []
    /// Nodes that should hold the shard (its preference list): followers beyond the isr catch up.
    private var targets: [String]
    /// A handover was proposed: new writes wait (the shell answers them `unavailable`).
    public private(set) var handingOver: String?
    /// Copies (this node and required followers) an entry needs before it is released: the
    /// replication factor, or the live nodes when fewer are alive (`ReplicaCore` sets it).
    public private(set) var minCopies: Int

    public init(me: String, config: ShardConfig, lastLSN: Int64, targets: [String], minCopies: Int = 1, nowMs: Int64) {
        precondition(config.primary == me, "a ShardPrimary for \(config) on \(me)")
        self.me = me
        self.config = config
        self.lastLSN = lastLSN
        self.targets = targets
        self.minCopies = minCopies
        // What is committed locally was released by this node's previous term or is older:
        // nothing below lastLSN waits on this primary's followers... except that a new primary
        // must not release its own unreplicated tail; so release starts from what the isr
        // is known to hold, i.e. nothing: every follower confirms first.
        released = 0
        for node in Set(config.isr + targets).sorted() where node != me { track(node, nowMs: nowMs) }
    }

    private mutating func track(_ node: String, nowMs: Int64) {
        guard node != me, followers[node] == nil else { return }
        followers[node] = Follower(generation: nextGeneration, lastHeardMs: nowMs)
        nextGeneration += 1
    }

    /// Forgets the followers this primary no longer ships to (see `Follower`).
    private mutating func forgetUnneeded() {
        let keep = required.union(targets)
        followers = followers.filter { keep.contains($0.key) }
    }

    /// The follower's state that an answer sent under `generation` may update, if current.
    private func follower(_ node: String, _ generation: UInt64) -> Follower? {
        guard let f = followers[node], f.generation == generation else { return nil }
        return f
    }

    public var required: Set<String> { Set(config.isr).union(proposedAdditions).subtracting([me]) }

    /// A newer committed config (from the register): adopt it, or step down.
    public mutating func onConfig(_ newer: ShardConfig, nowMs: Int64) -> [Action] {
        guard newer.epoch > config.epoch else { return [] }
        guard newer.primary == me else { return [.deposed(epoch: newer.epoch)] }
        config = newer
        proposedAdditions.subtract(newer.isr)
        proposedRemovals = proposedRemovals.filter { newer.isr.contains($0) }
        for node in newer.isr { track(node, nowMs: nowMs) }
        forgetUnneeded()
        return pump(nowMs: nowMs)
    }

    /// The preference list changed (a join or a leave).
    public mutating func onTargets(_ nodes: [String], nowMs: Int64) -> [Action] {
        targets = nodes
        for node in nodes { track(node, nowMs: nowMs) }
        forgetUnneeded()
        return pump(nowMs: nowMs)
    }

    /// A batch of writes was committed locally as entry `lsn`.
    public mutating func onLocalCommit(lsn: Int64, nowMs: Int64) -> [Action] {
        lastLSN = max(lastLSN, lsn)
        return pump(nowMs: nowMs)
    }

    /// A follower holds every entry up to `lsn` (it applied and committed them).
    /// The copies an entry needs (see `minCopies`); more writes may be released at once.
    public mutating func setMinCopies(_ copies: Int, nowMs: Int64) -> [Action] {
        minCopies = max(1, copies)
        return pump(nowMs: nowMs)
    }

    /// Whether this primary may serve now: every other isr member answered a request sent
    /// within `leaseMs`.
    public func leaseValid(nowMs: Int64) -> Bool {
        config.isr.allSatisfy { node in node == me || (followers[node].map { $0.leaseFrom > nowMs - Self.leaseMs } ?? false) }
    }

    /// `sentAtMs`: when the request this answers was sent (an answer under our epoch renews
    /// the lease from then).
    public mutating func onAck(from node: String, lsn: Int64, generation: UInt64, sentAtMs: Int64 = .min, nowMs: Int64) -> [Action] {
        guard var f = follower(node, generation) else { return [] }
        f.leaseFrom = max(f.leaseFrom, sentAtMs)
        followers[node] = f
        if lsn > lastLSN {
            // It holds entries we never wrote: an unacknowledged tail of an older term.
            return onMismatch(from: node, lastLSN: lsn, matches: false, generation: generation, nowMs: nowMs)
        }
        f.acked = max(f.acked, lsn)
        f.sent = max(f.sent, f.acked)
        f.lastHeardMs = nowMs
        f.snapshotting = false
        followers[node] = f
        return pump(nowMs: nowMs)
    }

    /// A follower's log does not continue from what we sent: it reports its last entry.
    /// `matches` tells whether our log has that entry with that term (the shell checks).
    public mutating func onMismatch(from node: String, lastLSN theirs: Int64, matches: Bool, generation: UInt64,
                                    sentAtMs: Int64 = .min, nowMs: Int64) -> [Action] {
        guard var f = follower(node, generation) else { return [] }
        f.leaseFrom = max(f.leaseFrom, sentAtMs)
        f.lastHeardMs = nowMs
        if matches, theirs <= lastLSN {
            f.acked = theirs
            f.sent = theirs
            followers[node] = f
            return pump(nowMs: nowMs)
        }
        guard !f.snapshotting else { followers[node] = f; return [] }
        f.snapshotting = true
        followers[node] = f
        return [.snapshot(to: node, generation: f.generation)]
    }

    /// A follower refused our entries: it has seen a newer epoch.
    public mutating func onRefused(epoch: Int64) -> [Action] {
        epoch > config.epoch ? [.deposed(epoch: epoch)] : []
    }

    /// A snapshot transfer ended without the follower taking it: try again later.
    public mutating func onSnapshotFailed(to node: String, generation: UInt64) {
        guard follower(node, generation) != nil else { return }
        followers[node]?.snapshotting = false
    }

    /// Gossip says a node is dead: do not wait for the timeout.
    public mutating func onDead(_ node: String, nowMs: Int64) -> [Action] {
        // A snapshot offer out to it may never be answered (a paused node loses it): drop it,
        // so the node gets a fresh offer when it is back instead of after the offer's long
        // timeout. An answer to the old offer then carries a stale generation and is ignored.
        if followers[node]?.snapshotting == true {
            followers[node] = Follower(generation: nextGeneration, lastHeardMs: nowMs)
            nextGeneration += 1
        }
        guard required.contains(node), !proposedRemovals.contains(node) else { return [] }
        proposedRemovals.insert(node)
        return [.proposeRemoval(node)]
    }

    public mutating func onTick(nowMs: Int64) -> [Action] {
        var out: [Action] = []
        // Heartbeats: an empty append to each idle, caught-up isr member keeps the lease.
        for node in config.isr.sorted() where node != me {
            guard var f = followers[node], !f.snapshotting, f.acked >= 0, f.sent == f.acked,
                  nowMs - f.lastSentMs >= Self.heartbeatMs else { continue }
            f.lastSentMs = nowMs
            followers[node] = f
            out.append(.ship(to: node, after: f.acked, through: f.acked, generation: f.generation))
        }
        for node in followers.keys.sorted() {
            guard var f = followers[node], !f.snapshotting, f.sent > f.acked || f.acked < 0,
                  nowMs - max(f.lastSentMs, f.lastHeardMs) > Self.retransmitAfterMs else { continue }
            f.sent = f.acked < 0 ? -1 : f.acked
            followers[node] = f
        }
        for node in required.sorted() where !proposedRemovals.contains(node) {
            guard let f = followers[node], f.acked < lastLSN, nowMs - f.lastHeardMs > Self.followerTimeoutMs else { continue }
            proposedRemovals.insert(node)
            out.append(.proposeRemoval(node))
        }
        return out + pump(nowMs: nowMs)
    }

    /// Ships what each follower lacks (within the in-flight bound), proposes caught-up
    /// followers for the isr, and releases what every required follower holds.
    private mutating func pump(nowMs: Int64) -> [Action] {
        var out: [Action] = []
        for node in followers.keys.sorted() {
            guard var f = followers[node], !f.snapshotting else { continue }
            guard required.contains(node) || targets.contains(node) else { continue }
            if f.acked < 0 {
                // Unknown position: an empty append from our last entry makes it report.
                if f.sent < 0 {
                    f.sent = lastLSN
                    f.lastSentMs = nowMs
                    out.append(.ship(to: node, after: lastLSN, through: lastLSN, generation: f.generation))
                }
            } else if f.sent < lastLSN, f.sent - f.acked < Self.maxEntriesInFlight {
                let through = min(lastLSN, f.acked + Self.maxEntriesInFlight)
                if through > f.sent {
                    out.append(.ship(to: node, after: f.sent, through: through, generation: f.generation))
                    f.sent = through
                    f.lastSentMs = nowMs
                }
            }
            followers[node] = f
            if targets.contains(node), !config.isr.contains(node), !proposedAdditions.contains(node), f.acked >= 0,
               f.acked == lastLSN {
                proposedAdditions.insert(node)
                out.append(.proposeAddition(node))
            }
        }
        // Replicas beyond the preference list (a stand-in while a node was away, a node that
        // left) are dropped once every node of the list is in the isr.
        if targets.allSatisfy({ $0 == me || config.isr.contains($0) }) {
            for node in config.isr where node != me && !targets.contains(node) && !proposedRemovals.contains(node) {
                proposedRemovals.insert(node)
                out.append(.proposeRemoval(node))
            }
        }
        let floor = required.map { followers[$0]?.acked ?? -1 }.min() ?? lastLSN
        let releasable = min(floor, lastLSN)
        if releasable > released, 1 + required.count >= minCopies {
            released = releasable
            out.append(.release(through: releasable))
        }
        if handingOver == nil, let first = targets.first, first != me, config.isr.contains(first),
           let f = followers[first], f.acked == lastLSN, released == lastLSN {
            handingOver = first
            out.append(.proposeHandover(to: first))
        }
        return out
    }

    /// The handover was not decided (the change failed): take writes again.
    public mutating func handoverFailed() { handingOver = nil }

    /// A removal was not decided: it may be proposed again (by the timeout or the list rule).
    public mutating func removalFailed(_ node: String) { proposedRemovals.remove(node) }

    /// The nodes that should hold the shard now.
    public var targetNodes: [String] { targets }

    /// Whether this primary still counts on `node`'s copy (it is, or may become, an isr
    /// member, or it is being caught up).
    public func needsCopy(of node: String) -> Bool {
        config.isr.contains(node) || proposedAdditions.contains(node) || targets.contains(node)
    }
}

/// A follower's answer to entries from a primary.
public enum FollowerCheck: Sendable, Equatable {
    /// Apply the batch's entries from this index on (the ones before it we already hold),
    /// then ack.
    case apply(from: Int)
    /// The entries do not continue our log: report our last entry.
    case mismatch
    /// The sender's epoch is older than one we have seen: it is not the primary any more.
    case refuse(epoch: Int64)

    /// `prevLSN`/`prevTerm`: the entry the batch follows; `terms`: the batch's entries' terms;
    /// `termAt`: the term of our entry at an LSN (nil if we do not hold it).
    public static func check(senderEpoch: Int64, knownEpoch: Int64, prevLSN: Int64, prevTerm: Int64, terms: [Int64],
                             myLastLSN: Int64, termAt: (Int64) -> Int64?) -> FollowerCheck {
        if senderEpoch < knownEpoch { return .refuse(epoch: knownEpoch) }
        // Our log must hold the entry the batch follows, with the same term (Raft's log
        // matching: one primary per epoch writes each LSN at most once, so equal (lsn, term)
        // means equal logs up to there).
        guard prevLSN <= myLastLSN, prevLSN == 0 || termAt(prevLSN) == prevTerm else { return .mismatch }
        // Entries we already hold must be the same ones; an entry of another term means our
        // tail was never acknowledged and must go (the primary sends a snapshot).
        var index = 0
        while index < terms.count, prevLSN + Int64(index) + 1 <= myLastLSN {
            if termAt(prevLSN + Int64(index) + 1) != terms[index] { return .mismatch }
            index += 1
        }
        // Entries beyond the whole batch: more than the primary has sent; they are checked
        // by the next batch, or, if the primary has no more, reported then.
        if index == terms.count, prevLSN + Int64(terms.count) < myLastLSN, terms.isEmpty { return .mismatch }
        return .apply(from: index)
    }
}
