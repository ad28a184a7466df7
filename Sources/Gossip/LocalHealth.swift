/// Lifeguard's local health multiplier (IV-A, "LHA-Probe"; memberlist awareness.go).
/// A node that misses nacks or has to refute suspicions of itself is probably the slow one:
/// it stretches its own probe interval and timeout instead of accusing healthy members.
struct LocalHealth: Sendable, Equatable {
    /// S from the paper: the score stays in 0..<maxMultiplier.
    let maxMultiplier: Int
    private(set) var score = 0

    init(maxMultiplier: Int) {
        self.maxMultiplier = max(1, maxMultiplier)
    }

    /// +1: a probe failed with missed nacks, or we refuted a suspicion of ourselves.
    /// −1: a probe got its ack.
    mutating func apply(delta: Int) {
        score = min(max(score + delta, 0), maxMultiplier - 1)
    }

    /// `ms × (score + 1)`.
    func scale(_ ms: Int64) -> Int64 {
        ms * Int64(score + 1)
    }
}
