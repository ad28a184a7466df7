import Hashing
import Gossip

/// How one directed link treats a datagram.
public struct LinkFaults: Sendable, Equatable {
    /// Chance in [0, 1] that a datagram is lost.
    public var dropProbability: Double
    /// One-way delay, uniform in minDelayMs...maxDelayMs.
    public var minDelayMs: Int64
    public var maxDelayMs: Int64

    public init(dropProbability: Double = 0, minDelayMs: Int64 = 1, maxDelayMs: Int64 = 3) {
        self.dropProbability = dropProbability
        self.minDelayMs = minDelayMs
        self.maxDelayMs = max(minDelayMs, maxDelayMs)
    }

    /// A quiet LAN: no loss, 1–3 ms.
    public static let lan = LinkFaults()
}

/// The simulated network between endpoints named by address strings: per-link loss and
/// delay, and partitions. It decides each datagram's fate from the caller's seeded RNG.
public struct NetworkModel: Sendable {
    private struct Link: Hashable, Sendable {
        var from: String
        var to: String
    }

    /// Links without an override behave like this.
    public var defaultLink: LinkFaults
    private var overrides: [Link: LinkFaults] = [:]
    /// Endpoint → partition side; two endpoints on different sides cannot reach each other.
    /// Endpoints without a side reach everyone.
    private var sides: [String: Int] = [:]

    public init(defaultLink: LinkFaults = .lan) {
        self.defaultLink = defaultLink
    }

    public mutating func setLink(from: String, to: String, _ faults: LinkFaults) {
        overrides[Link(from: from, to: to)] = faults
    }

    public mutating func clearLinkOverrides() {
        overrides = [:]
    }

    /// Splits the listed endpoints into groups that cannot talk to each other.
    public mutating func partition(_ groups: [[String]]) {
        sides = [:]
        for (side, group) in groups.enumerated() {
            for endpoint in group { sides[endpoint] = side }
        }
    }

    public mutating func heal() {
        sides = [:]
    }

    public func canReach(from: String, to: String) -> Bool {
        guard let a = sides[from], let b = sides[to] else { return true }
        return a == b
    }

    /// The one-way delay of a datagram in ms, or nil when it is lost.
    public func transit(from: String, to: String, rng: inout SplitMix64) -> Int64? {
        guard canReach(from: from, to: to) else { return nil }
        let link = overrides[Link(from: from, to: to)] ?? defaultLink
        if link.dropProbability > 0, rng.unit() < link.dropProbability { return nil }
        let spread = link.maxDelayMs - link.minDelayMs
        return link.minDelayMs + (spread > 0 ? Int64(rng.below(Int(spread) + 1)) : 0)
    }
}
