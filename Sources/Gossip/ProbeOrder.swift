import Hashing
/// Round-robin probe target selection (SWIM 4.3): members are probed in a random order,
/// reshuffled after each pass, and a new member joins the order at a random position. Any
/// member is probed within 2(n − 1) − 1 rounds of its last probe, which bounds detection
/// even for a node that is unlucky with a purely random choice.
struct ProbeOrder: Sendable {
    private var order: [MemberID] = []
    private var index = 0

    /// The next target accepted by `isProbeable`, reshuffling `candidates` (sorted, for
    /// determinism) when a pass is done.
    mutating func next(
        candidates: () -> [MemberID],
        isProbeable: (MemberID) -> Bool,
        rng: inout SplitMix64
    ) -> MemberID? {
        for pass in 0..<2 {
            while index < order.count {
                let id = order[index]
                index += 1
                if isProbeable(id) { return id }
            }
            guard pass == 0 else { break }
            order = candidates()
            order.shuffle(using: &rng)
            index = 0
        }
        return nil
    }

    mutating func insert(_ id: MemberID, rng: inout SplitMix64) {
        let position = index + rng.below(order.count - index + 1)
        order.insert(id, at: position)
    }

    mutating func remove(_ id: MemberID) {
        if let i = order.firstIndex(of: id) {
            order.remove(at: i)
            if i < index { index -= 1 }
        }
    }
}
