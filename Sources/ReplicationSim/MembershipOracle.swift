import Hashing
import Gossip

/// What each node believes about who is alive, standing in for gossip: a node that is down
/// (crashed or paused) or cut off from the observer is seen dead after a detection delay,
/// and alive again some time after it is back. Each observer notices on its own schedule
/// (the jitter), so views disagree for a while, as they do under SWIM.
struct MembershipOracle {
    struct Change {
        var observer: Int
        var target: Int
        var alive: Bool
    }

    private let count: Int
    private let settings: SimSettings
    /// view[observer][target]: what the observer believes now.
    private(set) var view: [[Bool]]
    /// When a pending change of view[observer][target] takes effect (nil: none pending).
    private var due: [[Int64?]]

    init(count: Int, settings: SimSettings) {
        self.count = count
        self.settings = settings
        view = Array(repeating: Array(repeating: true, count: count), count: count)
        due = Array(repeating: Array(repeating: nil, count: count), count: count)
    }

    /// The live set an observer hands to its core: itself always included.
    func alive(seenBy observer: Int) -> [Int] {
        (0..<count).filter { $0 == observer || view[observer][$0] }
    }

    func sees(_ observer: Int, _ target: Int) -> Bool { observer == target || view[observer][target] }

    /// A restarted node learns the membership at once (it joins through a seed).
    mutating func reset(observer: Int, truth: (Int) -> Bool) {
        for target in 0..<count {
            view[observer][target] = target == observer || truth(target)
            due[observer][target] = nil
        }
    }

    /// Compares every running observer's view with the truth; returns the changes that are
    /// due now, in (observer, target) order.
    mutating func sweep(nowMs: Int64, observing: (Int) -> Bool, truth: (_ observer: Int, _ target: Int) -> Bool,
                        rng: inout SplitMix64) -> [Change] {
        var changes: [Change] = []
        for observer in 0..<count where observing(observer) {
            for target in 0..<count where target != observer {
                let actual = truth(observer, target)
                guard actual != view[observer][target] else {
                    due[observer][target] = nil
                    continue
                }
                guard let when = due[observer][target] else {
                    let delay = actual ? settings.aliveAfterMs : settings.deadAfterMs
                    due[observer][target] = nowMs + delay + Int64(rng.below(Int(settings.detectionJitterMs) + 1))
                    continue
                }
                if nowMs >= when {
                    view[observer][target] = actual
                    due[observer][target] = nil
                    changes.append(Change(observer: observer, target: target, alive: actual))
                }
            }
        }
        return changes
    }
}
