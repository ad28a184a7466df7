@testable import Ring

/// SplitMix64 (Steele et al. 2014): a seeded generator so every "random" cluster is the same on
/// every run; a failure message names the seed.
struct SeededRandom: RandomNumberGenerator {
    private var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var value = state
        value = (value ^ (value >> 30)) &* 0xBF58_476D_1CE4_E5B9
        value = (value ^ (value >> 27)) &* 0x94D0_49BB_1331_11EB
        return value ^ (value >> 31)
    }
}

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
