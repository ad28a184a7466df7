import Hashing
/// The SWIM membership protocol with the Lifeguard refinements, as a value: every input is a
/// `mutating func` taking the current time and returning the `Directive`s the shell performs.
/// No clock, socket, thread or system randomness inside, so the simulator runs it as is.
///
/// - SWIM: Das, Gupta, Motivala, "SWIM: Scalable Weakly-consistent Infection-style Process
///   Group Membership Protocol" (DSN 2002): 3.1 failure detector, 4.1 infection-style
///   dissemination, 4.2 suspicion, 4.3 round-robin probe targets.
/// - Lifeguard: Dadgar, Phillips, Currey, "Lifeguard: Local Health Awareness for More
///   Accurate Failure Detection" (2018): IV-A local health (nacks, scaled probes),
///   IV-B suspicion timeout shrinking with confirmations, IV-C buddy system.
public struct SWIMInstance: Sendable {
    public let me: MemberID
    public let settings: GossipSettings
    /// Ours; raised only to refute news that we are suspect, dead or left (SWIM 4.2).
    public internal(set) var incarnation: UInt64 = 0
    /// Rises with every `memberChanged` directive.
    public internal(set) var version: UInt64 = 0
    public internal(set) var meta: [UInt8]
    /// Datagrams refused by the decoder (hostile, corrupt or from a newer version).
    public internal(set) var rejectedDatagrams: UInt64 = 0
    /// True once `leave(now:)` was called; the instance then only finishes gossiping.
    public internal(set) var hasLeft = false

    var rng: SplitMix64
    /// Every other member we know, including dead and left ones until reaped.
    var table: [MemberID: MemberEntry] = [:]
    /// `table`'s keys, sorted: all iteration goes through this, never the dictionary.
    var ids: [MemberID] = []
    var health: LocalHealth
    var broadcasts = BroadcastQueue()
    var probe: ProbeState = .idle(nextProbeAt: .zero)
    var probeOrder = ProbeOrder()
    var nextSeq: UInt32 = 1
    var relays: [Relay] = []
    var lastGossipAt: Instant?
    var nextPushPullAt: Instant?
    var nextDeadReconnectAt: Instant?
    var joining: JoinState = .notStarted
    /// The last tick we asked for; a tick far later means this process was stalled.
    var expectedTickAt: Instant?

    public init(me: MemberID, meta: [UInt8], settings: GossipSettings, seed: UInt64) throws(GossipError) {
        guard me.isEncodable else { throw .invalidMemberID }
        guard meta.count <= GossipLimits.maxMetaBytes else { throw .metaTooLong(bytes: meta.count) }
        if let problem = settings.problem { throw .invalidSettings(problem) }
        self.me = me
        self.meta = meta
        self.settings = settings
        rng = SplitMix64(seed: seed)
        health = LocalHealth(maxMultiplier: settings.localHealthMaxMultiplier)
    }

    // MARK: Views

    /// Every member we know, this node included, sorted by id.
    public var members: [Member] {
        var all = ids.compactMap { table[$0]?.member }
        let i = all.firstIndex { me < $0.id } ?? all.count
        all.insert(selfMember, at: i)
        return all
    }

    public func member(_ id: MemberID) -> Member? {
        id == me ? selfMember : table[id]?.member
    }

    /// Lifeguard's local health multiplier, 0 when healthy.
    public var localHealth: Int { health.score }

    /// When the shell should call `onTick` next (the last `scheduleTick`).
    public var nextTickAt: Instant? { expectedTickAt }

    var selfMember: Member {
        Member(id: me, status: hasLeft ? .left : .alive, incarnation: incarnation, meta: meta)
    }

    /// n in the settings' formulas: alive and suspect members, this node included.
    var clusterSize: Int {
        var n = hasLeft ? 0 : 1
        for id in ids where table[id]?.member.status.isInCluster == true { n += 1 }
        return n
    }

    // MARK: Inputs

    /// Start joining through `seeds` ("host:port" gossip addresses; ours is skipped): a full
    /// state exchange with each, retried every `joinRetryIntervalMs` until one answers.
    /// With no other seed this node starts a cluster of its own.
    public mutating func join(seeds: [String], now: Instant) -> [Directive] {
        var out: [Directive] = []
        let others = seeds.filter { $0 != me.address && !$0.isEmpty && $0.utf8.count <= GossipLimits.maxAddressBytes }
        if others.isEmpty {
            joining = .joined
        } else {
            joining = .joining(seeds: others, retryAt: now.adding(ms: settings.joinRetryIntervalMs))
            for seed in others { sendPushPull(to: seed, isReply: false, out: &out) }
        }
        if nextPushPullAt == nil { nextPushPullAt = now.adding(ms: settings.pushPullIntervalMs) }
        if case .idle = probe { probe = .idle(nextProbeAt: now) }
        finish(now: now, fromTick: false, out: &out)
        return out
    }

    /// The timer: probe rounds, suspicion timeouts, relayed probes, gossip, state exchange.
    public mutating func onTick(now: Instant) -> [Directive] {
        var out: [Directive] = []
        if let expected = expectedTickAt, now.ms - expected.ms > settings.probeIntervalMs {
            absorbStall(now: now)
        }
        expireSuspicions(now: now, out: &out)
        advanceProbe(now: now, out: &out)
        expireRelays(now: now, out: &out)
        gossipIfDue(now: now, out: &out)
        exchangeStateIfDue(now: now, out: &out)
        reapDeparted(now: now)
        finish(now: now, fromTick: true, out: &out)
        return out
    }

    /// One received datagram. `from` is its source "host:port"; direct replies go there.
    public mutating func onDatagram(_ bytes: [UInt8], from address: String, now: Instant) -> [Directive] {
        var out: [Directive] = []
        do {
            let datagram = try GossipCodec.decode(bytes)
            // News first, so an ack to a ping that suspects us already carries our refutation.
            for update in datagram.updates { apply(update, now: now, out: &out) }
            handle(datagram.message, from: address, now: now, out: &out)
        } catch {
            rejectedDatagrams += 1
        }
        finish(now: now, fromTick: false, out: &out)
        return out
    }

    /// Graceful leave: announce `left` at once to `leaveFanout` members and keep gossiping it
    /// on later ticks; stop probing. The shell may stop calling after a few gossip intervals.
    public mutating func leave(now: Instant) -> [Directive] {
        var out: [Directive] = []
        if !hasLeft {
            hasLeft = true
            version += 1
            out.append(.memberChanged(selfMember))
            broadcasts.enqueue(MemberUpdate(id: me, incarnation: incarnation, kind: .left))
            for target in randomMembers(settings.leaveFanout, where: { $0.status.isInCluster }) {
                send(.gossip, to: target.address, out: &out)
            }
            lastGossipAt = now
        }
        finish(now: now, fromTick: false, out: &out)
        return out
    }

    /// New metadata for this node, announced with a raised incarnation.
    public mutating func updateMeta(_ newMeta: [UInt8], now: Instant) -> [Directive] {
        var out: [Directive] = []
        if !hasLeft, newMeta.count <= GossipLimits.maxMetaBytes, newMeta != meta {
            meta = newMeta
            incarnation += 1
            broadcasts.enqueue(MemberUpdate(id: me, incarnation: incarnation, kind: .alive(meta: meta)))
        }
        finish(now: now, fromTick: false, out: &out)
        return out
    }

    // MARK: Shared steps

    mutating func handle(_ message: GossipMessage, from address: String, now: Instant, out: inout [Directive]) {
        switch message {
        case let .ping(seq, source, target):
            guard target == me else { return }
            var front: [MemberUpdate] = []
            // A member we hold dead still talks to us: tell it, so it can refute at once.
            if let e = table[source], e.member.status == .dead {
                front.append(MemberUpdate(id: source, incarnation: e.member.incarnation, kind: .dead))
            }
            send(.ack(seq: seq, source: me), to: address, front: front, out: &out)
        case let .ack(seq, source):
            onAck(seq: seq, source: source, now: now, out: &out)
        case let .pingReq(seq, source, target):
            onPingReq(seq: seq, requester: source, requesterAddress: address, target: target, now: now, out: &out)
        case let .nack(seq, _):
            onNack(seq: seq)
        case let .pushPull(p):
            onPushPull(p, from: address, now: now, out: &out)
        case .gossip:
            break
        }
    }

    /// Sends `message` with `front` first, then as many queued updates as fit.
    mutating func send(_ message: GossipMessage, to address: String, front: [MemberUpdate] = [], out: inout [Directive]) {
        let bare = GossipCodec.encode(message, encodedUpdates: [])
        var budget = settings.maxDatagramBytes - bare.count
        var updates: [[UInt8]] = []
        for u in front {
            let bytes = GossipCodec.encode(update: u)
            if bytes.count <= budget { updates.append(bytes); budget -= bytes.count }
        }
        updates += broadcasts.take(budgetBytes: budget, limit: settings.retransmitLimit(clusterSize: clusterSize))
        out.append(.send(to: address, bytes: GossipCodec.encode(message, encodedUpdates: updates)))
    }

    /// Up to `count` distinct random members passing `filter`.
    mutating func randomMembers(_ count: Int, where filter: (Member) -> Bool) -> [MemberID] {
        var pool = ids.filter { table[$0].map { filter($0.member) } ?? false }
        var picked: [MemberID] = []
        while picked.count < count, !pool.isEmpty {
            picked.append(pool.remove(at: rng.below(pool.count)))
        }
        return picked
    }

    /// Appends the single `scheduleTick`: the earliest pending deadline.
    mutating func finish(now: Instant, fromTick: Bool, out: inout [Directive]) {
        var next = now.adding(ms: settings.pushPullIntervalMs)
        func consider(_ t: Instant?) { if let t, t < next { next = t } }
        if !hasLeft {
            switch probe {
            case let .idle(at): consider(at)
            case let .direct(r): consider(r.timeoutAt)
            case let .indirect(r): consider(r.endsAt)
            }
            consider(nextPushPullAt)
            if ids.contains(where: { table[$0]?.member.status == .dead }) { consider(nextDeadReconnectAt) }
            if case let .joining(_, retryAt) = joining { consider(retryAt) }
        }
        for id in ids {
            guard let e = table[id] else { continue }
            consider(e.suspicion?.deadline)
            if !e.member.status.isInCluster { consider(e.changedAt.adding(ms: settings.deadMemberRetentionMs)) }
        }
        for r in relays { consider(r.nackSent ? r.expiresAt : r.nackAt) }
        if !broadcasts.isEmpty {
            consider(max(now, lastGossipAt.map { $0.adding(ms: settings.gossipIntervalMs) } ?? now))
        }
        // A tick never asks for itself again at the same instant.
        if fromTick, next <= now { next = now.adding(ms: 1) }
        expectedTickAt = next
        out.append(.scheduleTick(at: next))
    }
}

/// What we know about one other member.
struct MemberEntry: Sendable {
    var member: Member
    /// Present while `member.status == .suspect`.
    var suspicion: Suspicion?
    /// When the status last changed; dead and left members are reaped from here.
    var changedAt: Instant
}

/// Progress of this node's current probe round (SWIM 3.1).
enum ProbeState: Sendable {
    case idle(nextProbeAt: Instant)
    /// Ping sent; waiting for its ack until `timeoutAt`.
    case direct(ProbeRound)
    /// Ping-reqs sent; an ack (direct or relayed) until `endsAt` clears the target.
    case indirect(ProbeRound)
}

struct ProbeRound: Sendable {
    var target: MemberID
    var seq: UInt32
    var timeoutAt: Instant
    var endsAt: Instant
    var expectedNacks = 0
    var nacks = 0
}

/// A ping we send for a ping-req (SWIM 3.1), answered to the requester.
struct Relay: Sendable {
    var seq: UInt32
    var requesterAddress: String
    var requesterSeq: UInt32
    var nackAt: Instant
    var nackSent = false
    var expiresAt: Instant
}

enum JoinState: Sendable {
    case notStarted
    case joining(seeds: [String], retryAt: Instant)
    case joined
}
