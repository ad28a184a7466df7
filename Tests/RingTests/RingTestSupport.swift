import Hashing
@testable import Ring

/// The shared seeded generator: every "random" cluster is the same on every run.
typealias SeededRandom = SplitMix64

func randomNodeNames(_ count: Int, _ random: inout SeededRandom) -> [String] {
    (0..<count).map { _ in "node-" + String(random.next() & 0xFF_FFFF_FFFF, radix: 16) }
}

/// Primaries and held copies per node, and their ratios to the mean.
struct Balance {
    let maxLed: Int
    let maxHeld: Int
    let ledRatio: Double
    let heldRatio: Double
    /// The best achievable primary ratio: ceil(S/N) over S/N.
    let idealLedRatio: Double
    let idealHeldRatio: Double

    init(_ placement: Placement) {
        let nodeCount = placement.nodes.count
        let shards = placement.shardCount
        let copies = shards * min(placement.replication, nodeCount)
        maxLed = placement.nodes.map { placement.shardsLed(by: $0).count }.max() ?? 0
        maxHeld = placement.nodes.map { placement.shardsHeld(by: $0).count }.max() ?? 0
        let meanLed = Double(shards) / Double(nodeCount)
        let meanHeld = Double(copies) / Double(nodeCount)
        ledRatio = Double(maxLed) / meanLed
        heldRatio = Double(maxHeld) / meanHeld
        idealLedRatio = Double((shards + nodeCount - 1) / nodeCount) / meanLed
        idealHeldRatio = Double((copies + nodeCount - 1) / nodeCount) / meanHeld
    }
}
