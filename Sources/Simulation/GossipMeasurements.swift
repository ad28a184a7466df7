import Hashing
import Gossip

/// Samples in milliseconds with nearest-rank percentiles.
public struct LatencySamples: Sendable, Equatable, CustomStringConvertible {
    public private(set) var sorted: [Int64]

    public init(_ samples: [Int64]) {
        sorted = samples.sorted()
    }

    /// Nearest rank: the smallest sample with at least p% of samples at or below it.
    public func percentile(_ p: Double) -> Int64? {
        guard !sorted.isEmpty else { return nil }
        let rank = Int((p / 100 * Double(sorted.count)).rounded(.up))
        return sorted[Swift.min(Swift.max(rank, 1), sorted.count) - 1]
    }

    public var p50: Int64? { percentile(50) }
    public var p99: Int64? { percentile(99) }
    public var max: Int64? { sorted.last }

    public var description: String {
        "p50 \(p50.map(String.init) ?? "-") ms, p99 \(p99.map(String.init) ?? "-") ms, max \(max.map(String.init) ?? "-") ms, n=\(sorted.count)"
    }
}

/// The figures docs/GOSSIP.md reports, measured in the simulator. Each function is
/// deterministic for its seed.
public enum GossipMeasurements {
    /// Members named m00, m01, … joined one after another through m00; returns once every
    /// member sees every other alive (or after `timeoutMs`, with `nil`).
    public static func startCluster(
        members n: Int, seed: UInt64, settings: GossipSettings = GossipSettings(),
        network: NetworkModel = NetworkModel(), joinSpacingMs: Int64 = 50, timeoutMs: Int64 = 60_000
    ) -> GossipSimulation? {
        let sim = GossipSimulation(seed: seed, settings: settings, network: network)
        let seedAddress = GossipSimulation.address(of: name(0))
        for i in 0..<n {
            sim.addMember(name: name(i), meta: Array("client=\(name(i)):8080".utf8), seeds: i == 0 ? [] : [seedAddress])
            sim.run(forMs: joinSpacingMs)
        }
        let everyoneAlive = Dictionary(uniqueKeysWithValues: sim.memberIDs.map { ($0, MemberStatus.alive) })
        let converged = sim.run(until: sim.now.adding(ms: timeoutMs)) { sim.allRunningMembersSee(everyoneAlive) }
        return converged ? sim : nil
    }

    public static func name(_ i: Int) -> String {
        i < 10 ? "m0\(i)" : "m\(i)"
    }

    /// Time from a kill -9 of a random member until every other member holds it dead, over
    /// `trials` crashes in one cluster of `n` (the victim restarts between trials).
    public static func detectionTimes(
        members n: Int, trials: Int, seed: UInt64, settings: GossipSettings = GossipSettings()
    ) -> LatencySamples {
        guard let sim = startCluster(members: n, seed: seed, settings: settings) else { return LatencySamples([]) }
        var rng = SplitMix64(seed: seed ^ 0xDE7EC7)
        var samples: [Int64] = []
        var victim = sim.memberIDs[0]
        var deadSeenBy: Set<MemberID> = []
        sim.onMemberChanged = { _, observer, member in
            if member.id == victim, member.status == .dead { deadSeenBy.insert(observer) }
        }
        for _ in 0..<trials {
            sim.run(forMs: 1_000 + Int64(rng.below(2_000)))
            victim = sim.memberIDs[rng.below(n)]
            deadSeenBy = []
            let crashedAt = sim.now
            sim.perform(.crash(victim))
            let others = n - 1
            guard sim.run(until: sim.now.adding(ms: 30_000), stopWhen: { deadSeenBy.count >= others }) else { continue }
            samples.append(sim.now.ms - crashedAt.ms)
            sim.perform(.restart(victim, seeds: [GossipSimulation.address(of: name(victim == sim.memberIDs[0] ? 1 : 0))]))
            let everyoneAlive = Dictionary(uniqueKeysWithValues: sim.memberIDs.map { ($0, MemberStatus.alive) })
            _ = sim.run(until: sim.now.adding(ms: 30_000)) { sim.allRunningMembersSee(everyoneAlive) }
        }
        return LatencySamples(samples)
    }

    /// Time for a membership change to reach all `n` members: a new member joining through a
    /// random member (until all see it alive), then the same member leaving (until all see it
    /// left), `trials` times each.
    public static func disseminationTimes(
        members n: Int, trials: Int, seed: UInt64, settings: GossipSettings = GossipSettings()
    ) -> (join: LatencySamples, leave: LatencySamples) {
        guard let sim = startCluster(members: n, seed: seed, settings: settings) else {
            return (LatencySamples([]), LatencySamples([]))
        }
        var rng = SplitMix64(seed: seed ^ 0xD155)
        var joins: [Int64] = [], leaves: [Int64] = []
        let residents = sim.memberIDs
        for trial in 0..<trials {
            sim.run(forMs: 500 + Int64(rng.below(1_500)))
            let through = residents[rng.below(residents.count)]
            let start = sim.now
            let newcomer = sim.addMember(name: "joiner\(trial)", seeds: [through.address])
            if sim.run(until: start.adding(ms: 30_000), stopWhen: { sim.allRunningMembersSee([newcomer: .alive]) }) {
                joins.append(sim.now.ms - start.ms)
            }
            sim.run(forMs: 500 + Int64(rng.below(1_500)))
            let leaveStart = sim.now
            sim.perform(.leave(newcomer))
            // The process exits a second after announcing its leave.
            sim.schedule(.crash(newcomer), at: leaveStart.adding(ms: 1_000))
            let othersSeeLeft = { residents.allSatisfy { sim.status(of: newcomer, seenBy: $0) == .left } }
            if sim.run(until: leaveStart.adding(ms: 30_000), stopWhen: othersSeeLeft) {
                leaves.append(sim.now.ms - leaveStart.ms)
            }
        }
        return (LatencySamples(joins), LatencySamples(leaves))
    }

    /// Steady-state gossip traffic: bytes sent per member per simulated second, over
    /// `seconds` after the cluster of `n` converged (covers push-pull if ≥ 30 s).
    public static func bandwidth(
        members n: Int, seconds: Int64, seed: UInt64, settings: GossipSettings = GossipSettings()
    ) -> Double {
        guard let sim = startCluster(members: n, seed: seed, settings: settings) else { return .nan }
        sim.run(forMs: 5_000)
        let before = sim.totalBytesSent
        sim.run(forMs: seconds * 1_000)
        return Double(sim.totalBytesSent - before) / Double(n) / Double(seconds)
    }

    /// False deaths (a live member declared dead by anyone) over `seconds` of simulated time
    /// with `lossRate` on every link while one member is paused for `pauseMs` every 30 s.
    /// Also returns how many suspicions were raised (and refuted) meanwhile.
    public static func falseDeaths(
        members n: Int, seconds: Int64, lossRate: Double = 0.05, pauseMs: Int64 = 2_000,
        seed: UInt64, settings: GossipSettings = GossipSettings()
    ) -> (deaths: Int, suspicions: Int) {
        guard let sim = startCluster(members: n, seed: seed, settings: settings) else { return (-1, 0) }
        sim.network.defaultLink.dropProbability = lossRate
        var deaths = 0, suspicions = 0
        sim.onMemberChanged = { _, _, member in
            if member.status == .dead { deaths += 1 }
            if member.status == .suspect { suspicions += 1 }
        }
        var rng = SplitMix64(seed: seed ^ 0x5EE9)
        let sleeper = sim.memberIDs[1]
        let start = sim.now
        for k in 0..<(seconds / 30) {
            let at = start.adding(ms: k * 30_000 + 1_000 + Int64(rng.below(1_000)))
            sim.schedule(.pause(sleeper), at: at)
            sim.schedule(.resume(sleeper), at: at.adding(ms: pauseMs))
        }
        sim.run(forMs: seconds * 1_000)
        return (deaths, suspicions)
    }

    /// All the figures, one per line, for docs/GOSSIP.md.
    public static func report(seed: UInt64 = 1, trials: Int = 100, settings: GossipSettings = GossipSettings()) -> String {
        var lines: [String] = []
        for n in [3, 5, 10, 20] {
            let d = detectionTimes(members: n, trials: trials, seed: seed &+ UInt64(n), settings: settings)
            lines.append("detection, \(n) members: \(d)")
        }
        let (join, leave) = disseminationTimes(members: 20, trials: trials, seed: seed &+ 100, settings: settings)
        lines.append("join reaches 20 members: \(join)")
        lines.append("leave reaches 20 members: \(leave)")
        for n in [10, 50] {
            let b = bandwidth(members: n, seconds: 60, seed: seed &+ 200 &+ UInt64(n), settings: settings)
            lines.append("bandwidth, \(n) members: \(Int(b.rounded())) bytes/member/s")
        }
        for n in [3, 10, 20] {
            var deaths = 0, suspicions = 0
            for run in 0..<UInt64(max(1, trials / 25)) {
                let r = falseDeaths(members: n, seconds: 600, seed: seed &+ 300 &+ UInt64(n) &* 17 &+ run, settings: settings)
                deaths += r.deaths
                suspicions += r.suspicions
            }
            lines.append("5% loss, one member paused 2 s every 30 s, \(n) members, \(max(1, trials / 25)) × 10 min: \(deaths) false deaths (\(suspicions) suspicions, all refuted)")
        }
        return lines.joined(separator: "\n")
    }
}
