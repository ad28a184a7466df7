/// Delays between reconnect attempts to a peer: exponential growth capped at a maximum, with
/// "full jitter" (Brooker, "Exponential Backoff and Jitter", AWS Architecture Blog, 2015): each
/// delay is drawn uniformly between the minimum and the current exponential ceiling, so nodes
/// that lost the same peer at the same moment do not all redial it in lockstep. The random
/// draw is passed in, so the schedule is reproducible in tests and simulation.
public struct Backoff: Sendable, Equatable {
    /// Default first ceiling: 100 ms, about a TCP connect plus handshake on a LAN.
    public static let defaultMinDelayNanos: UInt64 = 100_000_000
    /// Default cap: 10 s, so a peer that comes back is redialed within seconds, while a dead
    /// one costs a connect attempt per 5 s on average.
    public static let defaultMaxDelayNanos: UInt64 = 10_000_000_000

    public let minDelayNanos: UInt64
    public let maxDelayNanos: UInt64
    /// Failed attempts since the last `reset()`.
    public private(set) var attempt: Int = 0

    public init(minDelayNanos: UInt64 = Backoff.defaultMinDelayNanos,
                maxDelayNanos: UInt64 = Backoff.defaultMaxDelayNanos) {
        self.minDelayNanos = minDelayNanos
        self.maxDelayNanos = max(minDelayNanos, maxDelayNanos)
    }

    /// The ceiling for the current attempt: min * 2^attempt, capped at the maximum (a zero
    /// minimum grows from 1 ns, so it still grows).
    public var ceilingNanos: UInt64 {
        guard attempt < 64 else { return maxDelayNanos }
        let (scaled, overflow) = max(minDelayNanos, 1).multipliedReportingOverflow(by: UInt64(1) << UInt64(attempt))
        return overflow ? maxDelayNanos : min(scaled, maxDelayNanos)
    }

    /// The delay before the next attempt, and counts the attempt. `jitter` is a uniform draw
    /// from [0, 1) supplied by the caller; values outside (or NaN) are clamped.
    public mutating func nextDelayNanos(jitter: Double) -> UInt64 {
        let ceiling = ceilingNanos
        if attempt < 64 { attempt += 1 }
        let unit = jitter.isNaN ? 0 : min(max(jitter, 0), 1)
        let span = ceiling - minDelayNanos
        let scaled = Double(span) * unit
        // Double(span) may round up past UInt64.max; converting that would trap.
        let offset = scaled >= Double(span) ? span : UInt64(scaled)
        return minDelayNanos + offset
    }

    /// Call after a connection is established, so the next failure starts small again.
    public mutating func reset() {
        attempt = 0
    }
}
