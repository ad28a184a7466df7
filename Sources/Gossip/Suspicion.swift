import Foundation

/// The timer of one suspected member (Lifeguard IV-B "LHA-Suspicion"; memberlist
/// suspicion.go). It starts at `maxMs` and shrinks toward `minMs` as distinct members
/// confirm the suspicion:
///
///     timeout(c) = max(minMs, maxMs − (maxMs − minMs) × log(c + 1) / log(k + 1))
///
/// measured from `startedAt`, so a confirmation never extends it.
struct Suspicion: Sendable, Equatable {
    let startedAt: Instant
    let minMs: Int64
    let maxMs: Int64
    /// Confirmations that reach `minMs`; 0 means `minMs` from the start.
    let wanted: Int
    /// Names heard accusing; the first (who told us) is not a confirmation, since our own
    /// news may come back to us (memberlist excludes it the same way).
    private(set) var accusers: [String]
    /// Never expires before this (see `SWIMInstance.absorbStall`).
    private(set) var notBefore: Instant

    init(startedAt: Instant, accuser: String, minMs: Int64, maxMs: Int64, wanted: Int) {
        self.startedAt = startedAt
        self.minMs = minMs
        self.maxMs = max(minMs, maxMs)
        self.wanted = max(0, wanted)
        accusers = [accuser]
        notBefore = startedAt
    }

    var confirmations: Int { accusers.count - 1 }

    var deadline: Instant {
        max(notBefore, startedAt.adding(ms: Self.timeoutMs(confirmations: confirmations, wanted: wanted, minMs: minMs, maxMs: maxMs)))
    }

    mutating func holdUntil(_ instant: Instant) {
        notBefore = max(notBefore, instant)
    }

    /// Counts `accuser` once; false when already counted or the minimum is reached.
    /// Bounded: at most `wanted + 1` names are kept.
    mutating func confirm(by accuser: String) -> Bool {
        guard confirmations < wanted, !accusers.contains(accuser) else { return false }
        accusers.append(accuser)
        return true
    }

    static func timeoutMs(confirmations c: Int, wanted k: Int, minMs: Int64, maxMs: Int64) -> Int64 {
        guard k >= 1 else { return minMs }
        let fraction = log(Double(c) + 1) / log(Double(k) + 1)
        let raw = Double(maxMs) - fraction * Double(maxMs - minMs)
        return max(minMs, Int64(raw.rounded(.down)))
    }
}
