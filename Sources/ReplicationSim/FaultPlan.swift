import Hashing
import Gossip

/// Something done to the cluster at an instant. Nodes are named by index.
public enum Fault: Sendable, Equatable, CustomStringConvertible {
    /// kill -9: the node's volatile state is gone; its durable part stays.
    case crash(Int)
    /// A new process from the durable part.
    case restart(Int)
    /// SIGSTOP: nothing runs; arriving messages wait in its socket buffers.
    case pause(Int)
    /// SIGCONT with the old state. `dropBacklog`: its peers had closed the connections, so
    /// what they sent meanwhile is lost.
    case resume(Int, dropBacklog: Bool)
    case partition([[Int]])
    case heal
    /// Every link loses this share of messages.
    case loss(Double)
    case noLoss
    /// The node's links in both directions get up to this one-way delay.
    case slow(Int, maxDelayMs: Int64)
    case fast(Int)
    /// Messages from one node to another are lost with this probability (1: a one-way cut);
    /// the other direction is untouched, and gossip (indirect probes) still sees both alive.
    case linkLoss(from: Int, to: Int, Double)
    case linkRestored(from: Int, to: Int)
    /// The end of the fault phase: heal, restore links, resume and restart everything.
    case healAll

    public var description: String {
        switch self {
        case .crash(let n): return "crash n\(n + 1)"
        case .restart(let n): return "restart n\(n + 1)"
        case .pause(let n): return "pause n\(n + 1)"
        case .resume(let n, let drop): return "resume n\(n + 1)" + (drop ? " (its connections were reset)" : "")
        case .partition(let groups):
            return "partition " + groups.map { "{" + $0.map { "n\($0 + 1)" }.joined(separator: ",") + "}" }.joined(separator: " | ")
        case .heal: return "heal the partition"
        case .loss(let p): return "lose \(Int(p * 100))% of messages"
        case .noLoss: return "stop losing messages"
        case .slow(let n, let d): return "slow n\(n + 1)'s links to \(d) ms"
        case .fast(let n): return "restore n\(n + 1)'s links"
        case .linkLoss(let a, let b, let p):
            return p >= 1 ? "cut n\(a + 1) → n\(b + 1) (one way)" : "lose \(Int(p * 100))% of n\(a + 1) → n\(b + 1)"
        case .linkRestored(let a, let b): return "restore n\(a + 1) → n\(b + 1)"
        case .healAll: return "heal everything"
        }
    }
}

/// The faults of one run, drawn from its seed: episodes (a crash and its restart, a pause
/// and its resume, a partition and its heal, a lossy or slow spell) starting at random
/// gaps. At most a minority of the nodes is down (crashed or paused) at once; a partition
/// or a loss spell may come on top.
public struct FaultPlan: Sendable {
    public struct Step: Sendable, Equatable {
        public var atMs: Int64
        public var fault: Fault
    }

    public private(set) var steps: [Step] = []

    public init(steps: [Step]) { self.steps = steps }

    public static func make(seed: UInt64, settings: SimSettings) -> FaultPlan {
        var rng = SplitMix64(seed: seed ^ 0xFA01_7000_0000_0002)
        let mix = settings.faults, n = settings.nodeCount, end = settings.faultPhaseMs
        var steps: [Step] = []
        guard mix.totalWeight > 0 else { return FaultPlan(steps: [Step(atMs: end, fault: .healAll)]) }
        // Nodes down at once, at most: a majority stays up (1 of 3, 2 of 5).
        let maxDown = (n - 1) / 2
        var downUntil = [Int64](repeating: 0, count: n)
        var partitionUntil: Int64 = 0, lossUntil: Int64 = 0
        var slowUntil = [Int64](repeating: 0, count: n)
        var oneWayUntil: Int64 = 0
        var t = 1_000 + Int64(rng.below(Int(mix.meanGapMs)))
        while t < end - 1_000 {
            let stop = min(end, t + mix.minDurationMs + Int64(rng.below(Int(mix.maxDurationMs - mix.minDurationMs) + 1)))
            var pick = rng.below(mix.totalWeight)
            func take(_ weight: Int) -> Bool {
                if pick < weight { return true }
                pick -= weight
                return false
            }
            let up = (0..<n).filter { downUntil[$0] <= t }
            if take(mix.crash) {
                if n - up.count < maxDown, let node = up.isEmpty ? nil : up[rng.below(up.count)] {
                    downUntil[node] = stop
                    steps.append(Step(atMs: t, fault: .crash(node)))
                    steps.append(Step(atMs: stop, fault: .restart(node)))
                }
            } else if take(mix.pause) {
                if n - up.count < maxDown, let node = up.isEmpty ? nil : up[rng.below(up.count)] {
                    downUntil[node] = stop
                    steps.append(Step(atMs: t, fault: .pause(node)))
                    steps.append(Step(atMs: stop, fault: .resume(node, dropBacklog: rng.below(2) == 0)))
                }
            } else if take(mix.partition) {
                if partitionUntil <= t {
                    var nodes = Array(0..<n)
                    nodes.shuffle(using: &rng)
                    let minority = 1 + rng.below(maxDown)
                    steps.append(Step(atMs: t, fault: .partition([Array(nodes[..<minority]).sorted(), Array(nodes[minority...]).sorted()])))
                    steps.append(Step(atMs: stop, fault: .heal))
                    partitionUntil = stop
                }
            } else if take(mix.oneWay) {
                if oneWayUntil <= t {
                    let a = rng.below(n), b = (a + 1 + rng.below(n - 1)) % n
                    let p = rng.below(2) == 0 ? 1.0 : 0.3
                    steps.append(Step(atMs: t, fault: .linkLoss(from: a, to: b, p)))
                    steps.append(Step(atMs: stop, fault: .linkRestored(from: a, to: b)))
                    oneWayUntil = stop
                }
            } else if take(mix.loss) {
                if lossUntil <= t {
                    steps.append(Step(atMs: t, fault: .loss(0.01 + rng.unit() * mix.maxDropProbability)))
                    steps.append(Step(atMs: stop, fault: .noLoss))
                    lossUntil = stop
                }
            } else {
                let node = rng.below(n)
                if slowUntil[node] <= t {
                    steps.append(Step(atMs: t, fault: .slow(node, maxDelayMs: 20 + Int64(rng.below(Int(mix.maxSlowDelayMs))))))
                    steps.append(Step(atMs: stop, fault: .fast(node)))
                    slowUntil[node] = stop
                }
            }
            t += 1 + Int64(rng.below(Int(2 * mix.meanGapMs)))
        }
        steps.append(Step(atMs: end, fault: .healAll))
        // Stable: an episode's end scheduled at the same instant as a later start stays first.
        return FaultPlan(steps: steps.enumerated().sorted { ($0.element.atMs, $0.offset) < ($1.element.atMs, $1.offset) }.map(\.element))
    }
}
