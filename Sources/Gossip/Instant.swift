/// A point on a monotonic clock, in milliseconds. The shell reads its clock and passes the
/// value in; the protocol never reads a clock itself, so the simulator can drive it.
public struct Instant: Comparable, Hashable, Sendable, CustomStringConvertible {
    public var ms: Int64

    public init(ms: Int64) {
        self.ms = ms
    }

    public static let zero = Instant(ms: 0)

    public static func < (lhs: Instant, rhs: Instant) -> Bool {
        lhs.ms < rhs.ms
    }

    /// This instant moved by `ms` milliseconds (negative moves back).
    public func adding(ms delta: Int64) -> Instant {
        Instant(ms: ms &+ delta)
    }

    public var description: String { "\(ms)ms" }
}
