import Foundation

/// Tunables of the failure detector and dissemination. Defaults target a LAN or loopback:
/// a kill -9'd member declared dead by every member in about 2.4 s, while a member paused
/// for 2 s is not (docs/GOSSIP.md derives the numbers). `n` below is the cluster size:
/// alive plus suspect members, this node included.
public struct GossipSettings: Sendable, Equatable {
    /// Time between two probe rounds of this node (SWIM 3.1 "protocol period" T').
    /// Each round probes one member; the round's verdict comes at its end.
    /// Scaled by the local health multiplier (Lifeguard IV-A): `probeIntervalMs × (lhm + 1)`.
    /// 200 ms: a crashed member is probed and suspected within ~0.2–0.4 s.
    public var probeIntervalMs: Int64 = 200

    /// How long a direct ping waits for its ack before asking `indirectProbes` members to
    /// ping on our behalf (SWIM 3.1). Should exceed the p99 round trip (loopback/LAN: < 5 ms,
    /// plus the time a busy event loop needs to read the datagram). Scaled like the interval:
    /// `probeTimeoutMs × (lhm + 1)`. Must be below `probeIntervalMs`.
    public var probeTimeoutMs: Int64 = 100

    /// k, the number of members asked to ping a target that missed its direct ping
    /// (SWIM 3.1 ping-req). 3: one lossy link or one slow helper does not cause a suspicion.
    public var indirectProbes: Int = 3

    /// A helper that got no ack from the target within this share of `probeTimeoutMs` sends
    /// a nack to the requester (Lifeguard IV-A). A requester that misses expected nacks is
    /// itself probably unhealthy, and raises its local health multiplier. 80 as in the paper.
    public var nackTimeoutPercent: Int = 80

    /// α: the shortest suspicion lasts
    /// `suspicionMinMs(n) = α × probeIntervalMs + ceil(log_(f+1) n) × gossipIntervalMs`
    /// (f = `gossipFanout`). The first term is the longest stall of a healthy member we
    /// tolerate (a GC-like pause, a SIGSTOP), counted from the moment its suspicion may start,
    /// which a lost ping can put right at the start of the stall. The second is the time its
    /// refutation needs to reach all n members: with fan-out f the informed set grows
    /// (f + 1)-fold per gossip round. 10 → 2 s + 50–150 ms: a member paused for 2 s refutes
    /// before any timer expires. Grows with n: n = 3 → 2050 ms; 10 or 20 → 2100 or 2150 ms;
    /// 50 → 2150 ms; 100 → 2200 ms.
    public var suspicionMinMultiplier: Int = 10

    /// β: a suspicion starts at `suspicionMaxMs(n) = β × suspicionMinMs(n)` and shrinks toward
    /// the minimum as independent confirmations arrive (Lifeguard IV-B):
    /// `timeout(c) = max(min, max − (max − min) × log(c + 1) / log(k + 1))`.
    /// 3: a lone accuser (perhaps itself unhealthy) waits about 6.3 s; a confirmed one 2.1 s.
    public var suspicionMaxMultiplier: Int = 3

    /// k, the confirmations (suspect messages from distinct other members) that shrink a
    /// suspicion to its minimum (Lifeguard IV-B; the paper uses 3). When `n − 2 < k` there
    /// are too few members to confirm, and the minimum applies at once (as memberlist does).
    public var suspicionConfirmations: Int = 3

    /// λ: each update is piggybacked or gossiped `λ × ceil(log10(n + 1))` times before it is
    /// dropped from the queue (SWIM 4.1: λ log n transmissions reach everyone w.h.p.).
    /// 6 → 12 transmissions for 10 ≤ n ≤ 99. With 4 (memberlist's), a refutation that 19
    /// members flood at once missed one member in about 1 of 2,000 floods in the simulator,
    /// which then declared the refuted member dead; 6 makes that about 1 in 10^5.
    public var retransmitMultiplier: Int = 6

    /// While updates wait in the queue, every `gossipIntervalMs` this node sends them to
    /// `gossipFanout` random members, besides piggybacking them on probes (memberlist's
    /// gossip timer). With fan-out 3 a change reaches 20 members in about 3 rounds (150 ms).
    /// Costs nothing when there is nothing to tell.
    public var gossipIntervalMs: Int64 = 50

    /// Members sent each gossip round; see `gossipIntervalMs`.
    public var gossipFanout: Int = 3

    /// Every this often, a full state exchange with one random member (anti-entropy;
    /// heals what gossip missed). 30 s as memberlist.
    public var pushPullIntervalMs: Int64 = 30_000

    /// Every this often, a full state exchange with one random member believed dead: the
    /// reconnect attempt that heals a partition whose sides declared each other dead (or a
    /// node cut off and back). memberlist does this with its 30 s push-pull; a healed Relay
    /// node must serve again within seconds, so 1 s: one small datagram train per second
    /// while some member is dead, nothing otherwise. Both sides of a healed cut do it, so the
    /// first exchange follows the heal within about a second; its reply carries the sender's
    /// "dead" view of the receiver, which then refutes it (SWIM 4.2).
    public var deadReconnectIntervalMs: Int64 = 1_000

    /// While no seed has answered our join, resend the join push-pull this often.
    public var joinRetryIntervalMs: Int64 = 1_000

    /// Lifeguard's S: the local health multiplier (lhm) stays in 0..<S; probe interval and
    /// timeout are scaled by (lhm + 1), up to 8× (Lifeguard IV-A, memberlist awareness.go).
    public var localHealthMaxMultiplier: Int = 8

    /// Dead and left members stay in the view this long, so a stale "alive" cannot revive
    /// them and reconnect attempts can reach them; then they are forgotten.
    public var deadMemberRetentionMs: Int64 = 300_000

    /// A graceful leave is sent at once to this many random members (then gossiped on).
    public var leaveFanout: Int = 8

    /// No datagram we build is larger: the Ethernet MTU (1500) less IP/UDP headers and
    /// room for the shell's authentication wrapper.
    public var maxDatagramBytes: Int = 1400

    /// Largest view we keep. Updates about further unknown members are ignored, so a
    /// hostile peer cannot grow our memory without bound.
    public var maxMembers: Int = 1024

    /// Ping-reqs we relay at once (each waits at most one probe interval); more are dropped.
    public var maxPendingRelays: Int = 64

    public init() {}

    /// The shortest suspicion for a cluster of `n`, in ms (see `suspicionMinMultiplier`).
    public func suspicionMinMs(clusterSize n: Int) -> Int64 {
        Int64(suspicionMinMultiplier) * probeIntervalMs
            + Int64(gossipRounds(toReach: n)) * gossipIntervalMs
    }

    /// The longest suspicion for a cluster of `n`, in ms (see `suspicionMaxMultiplier`).
    public func suspicionMaxMs(clusterSize n: Int) -> Int64 {
        Int64(max(1, suspicionMaxMultiplier)) * suspicionMinMs(clusterSize: n)
    }

    /// Confirmations that drive a suspicion to its minimum, for a cluster of `n`.
    public func confirmationsWanted(clusterSize n: Int) -> Int {
        n - 2 < suspicionConfirmations ? 0 : suspicionConfirmations
    }

    /// Transmissions of one update before it leaves the queue, for a cluster of `n`.
    public func retransmitLimit(clusterSize n: Int) -> Int {
        max(1, retransmitMultiplier * Int(ceil(log10(Double(max(n, 1) + 1)))))
    }

    /// Why these settings cannot work, or nil when they can.
    public var problem: String? {
        if probeIntervalMs <= 0 || probeTimeoutMs <= 0 { return "probe interval and timeout must be positive" }
        if probeTimeoutMs >= probeIntervalMs { return "probeTimeoutMs must be below probeIntervalMs" }
        if gossipIntervalMs <= 0 || pushPullIntervalMs <= 0 || joinRetryIntervalMs <= 0 || deadReconnectIntervalMs <= 0 {
            return "intervals must be positive"
        }
        if indirectProbes < 0 || gossipFanout < 1 || leaveFanout < 1 { return "fan-outs must be positive" }
        if !(1...100).contains(nackTimeoutPercent) { return "nackTimeoutPercent must be in 1...100" }
        if suspicionMinMultiplier < 1 || suspicionMaxMultiplier < 1 || suspicionConfirmations < 0 {
            return "suspicion multipliers must be positive"
        }
        if retransmitMultiplier < 1 || localHealthMaxMultiplier < 1 { return "multipliers must be positive" }
        if maxDatagramBytes < GossipLimits.minDatagramBytes || maxDatagramBytes > GossipLimits.maxUDPPayloadBytes {
            return "maxDatagramBytes must be in \(GossipLimits.minDatagramBytes)...\(GossipLimits.maxUDPPayloadBytes)"
        }
        if maxMembers < 1 || maxPendingRelays < 0 || deadMemberRetentionMs < 0 { return "bounds must be positive" }
        return nil
    }
}

extension GossipSettings {
    /// ceil(log_(f+1) n): gossip rounds for news to reach n members with fan-out f.
    public func gossipRounds(toReach n: Int) -> Int {
        var rounds = 0, reached = 1
        while reached < n {
            reached *= max(2, gossipFanout + 1)
            rounds += 1
        }
        return rounds
    }
}
