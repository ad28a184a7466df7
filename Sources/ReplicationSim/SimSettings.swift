import Hashing
import Gossip
import Simulation

/// Everything one simulated run is made of, besides its seed. `random(seed:profile:)` draws
/// a cluster shape and fault mix from the seed; scenario tests start from `quiet` and set
/// what they need.
public struct SimSettings: Sendable, CustomStringConvertible {
    // MARK: Cluster

    /// 3 or 5 nodes: a majority survives one (or two) of them down.
    public var nodeCount = 3
    /// Copies of each shard (R): 2 by default in Relay, 3 supported.
    public var replication = 2
    /// Few enough shards that every node leads several and faults hit primaries often.
    public var shardCount = 8
    /// The loop's replication tick (`Replicator.tickMs`).
    public var tickIntervalMs: Int64 = 100
    /// Every this many ticks a node sends its table of committed configs to a random live
    /// peer (`Replicator.tableEveryTicks`: 2 s).
    public var tableEveryTicks = 20
    /// Entries each node keeps of a shard's log (nil: all). Small, so that a follower that
    /// was away finds its position trimmed and needs a snapshot.
    public var logKeepEntries: Int? = nil
    /// A log is trimmed back to `logKeepEntries` when it holds this many more: trimming is
    /// not done on every commit.
    public var logTrimSlack = 50

    // MARK: Membership oracle (stands in for gossip)

    /// A node that crashed, paused or is cut off is seen dead by another after this long plus
    /// up to `detectionJitterMs` (SWIM's probe, suspicion and dissemination take 2–3 s).
    public var deadAfterMs: Int64 = 2_000
    /// A node that is back is seen alive after this long plus up to `detectionJitterMs`.
    public var aliveAfterMs: Int64 = 500
    public var detectionJitterMs: Int64 = 1_000
    /// How often the oracle compares what each node sees with the truth.
    public var membershipSweepMs: Int64 = 100

    // MARK: Network and nodes

    /// The links between nodes when no fault is active.
    public var link = LinkFaults(dropProbability: 0, minDelayMs: 1, maxDelayMs: 3)
    /// A node redials a dropped peer connection after this long plus up to as much again
    /// (`PeerLink`'s first backoff), and every `reconnectRetryMs` while the peer is away.
    public var reconnectDelayMs: Int64 = 100
    public var reconnectRetryMs: Int64 = 500
    /// A snapshot not answered in this long is given up (`onSnapshotFailed`).
    public var snapshotTimeoutMs: Int64 = 2_000
    /// Messages a paused node's sockets buffer; later ones are lost.
    public var maxBacklogMessages = 256
    /// A node's router retries a request without a primary for this long (ClusterRouter's
    /// `retryBudgetMs`), every `routerRetryDelayMs`, before answering `unavailable`.
    public var routerRetryBudgetMs: Int64 = 2_500
    public var routerRetryDelayMs: Int64 = 150

    // MARK: Workload

    /// Client sends issued during the fault phase, at uniformly random instants.
    public var sends = 1_000
    /// Conversations the sends go to (a conversation lives on one shard).
    public var conversations = 40
    /// A client that has no answer in this long sends again (same client_id), elsewhere.
    public var clientTimeoutMs: Int64 = 3_000
    /// Pause before a client's next attempt after `unavailable`, plus up to as much again.
    public var clientRetryPauseMs: Int64 = 100
    /// A send not acked this long after its first attempt is given up.
    public var clientGiveUpMs: Int64 = 60_000
    /// Groups whose admin changes their membership, one change after another, during the
    /// fault phase (Groups.swift), and the changes each makes after creating it.
    public var groups = 0
    public var changesPerGroup = 0
    /// Fans whose wallet is credited and who then tip a creator this many times (Tips.swift).
    public var tippers = 0
    public var tipsPerTipper = 0
    /// Lists whose owner posts two mass messages to this many members (Lists.swift).
    public var lists = 0
    public var listMembers = 0

    // MARK: Phases

    /// Faults happen (and clients send) during this phase.
    public var faultPhaseMs: Int64 = 60_000
    /// After everything is healed, the cluster must settle (every client answered, every
    /// shard served by its preferred node with its copies equal) within this time.
    public var settleLimitMs: Int64 = 60_000
    /// The final write to each shard must be acked within this time.
    public var finalRoundLimitMs: Int64 = 20_000

    // MARK: Faults

    public var faults = FaultMix()

    public init() {}

    /// No faults and no background sends: scenario tests drive everything themselves.
    public static var quiet: SimSettings {
        var s = SimSettings()
        s.sends = 0
        s.faults = FaultMix.none
        s.faultPhaseMs = 0
        return s
    }

    public enum Profile: String, Sendable {
        /// Short runs for the test suite (hundreds of seeds in a debug build).
        case quick
        /// What `scripts/simulate` runs: longer, busier, more faults.
        case full
    }

    /// The cluster shape, workload and fault mix a seed stands for.
    public static func random(seed: UInt64, profile: Profile) -> SimSettings {
        var rng = SplitMix64(seed: seed ^ 0x5E77_1265_0000_0001)
        var s = SimSettings()
        s.nodeCount = rng.below(2) == 0 ? 3 : 5
        s.replication = 2 + rng.below(2)
        s.logKeepEntries = rng.below(2) == 0 ? nil : 20 + rng.below(40)
        switch profile {
        case .quick:
            s.faultPhaseMs = 20_000 + Int64(rng.below(10_000))
            s.sends = 150 + rng.below(150)
            s.conversations = 12
            s.settleLimitMs = 45_000
            s.groups = 2
            s.changesPerGroup = 10
            s.tippers = 1
            s.tipsPerTipper = 10
            s.lists = 1
            s.listMembers = 12
        case .full:
            s.faultPhaseMs = 60_000 + Int64(rng.below(60_000))
            s.sends = 1_500 + rng.below(2_500)
            s.conversations = 40
            s.groups = 4
            s.changesPerGroup = 40
            s.tippers = 2
            s.tipsPerTipper = 20
            s.lists = 2
            s.listMembers = 40
        }
        s.faults = FaultMix.random(&rng)
        return s
    }

    public var description: String {
        "\(nodeCount) nodes, R=\(replication), \(shardCount) shards, \(sends) sends over \(faultPhaseMs) ms, "
            + "log kept: \(logKeepEntries.map(String.init) ?? "all"), faults: \(faults)"
    }
}

/// Which faults a run injects and how often.
public struct FaultMix: Sendable, CustomStringConvertible {
    /// Mean pause between the starts of two fault episodes.
    public var meanGapMs: Int64 = 3_000
    /// Relative weights of the episode kinds (0: never).
    public var crash = 3
    public var pause = 2
    public var partition = 2
    public var loss = 1
    public var slowNode = 1
    /// One-way cuts and asymmetric loss between two nodes (issue 10's partial faults).
    public var oneWay = 1
    /// Episodes last uniformly between these.
    public var minDurationMs: Int64 = 2_000
    public var maxDurationMs: Int64 = 12_000
    /// Loss rate during a loss episode, at most.
    public var maxDropProbability = 0.2
    /// One-way delay of a slowed node's links, at most.
    public var maxSlowDelayMs: Int64 = 400

    public init() {}

    public static var none: FaultMix {
        var m = FaultMix()
        m.crash = 0; m.pause = 0; m.partition = 0; m.loss = 0; m.slowNode = 0; m.oneWay = 0
        return m
    }

    public var totalWeight: Int { crash + pause + partition + loss + slowNode + oneWay }

    static func random(_ rng: inout SplitMix64) -> FaultMix {
        var m = FaultMix()
        m.meanGapMs = 1_500 + Int64(rng.below(3_000))
        m.crash = rng.below(4)
        m.pause = rng.below(3)
        m.partition = rng.below(3)
        m.loss = rng.below(2)
        m.slowNode = rng.below(2)
        m.oneWay = rng.below(3)
        if m.totalWeight == 0 { m.crash = 1 }
        m.maxDropProbability = 0.05 + rng.unit() * 0.25
        return m
    }

    public var description: String {
        "crash \(crash) pause \(pause) partition \(partition) loss \(loss) slow \(slowNode) one-way \(oneWay) every ~\(meanGapMs) ms"
    }
}
