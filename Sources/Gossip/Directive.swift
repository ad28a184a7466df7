/// What the shell must do after an input. Every call returns exactly one `scheduleTick`,
/// last; it replaces any earlier one (the shell keeps a single timer).
public enum Directive: Sendable, Equatable {
    /// Send one UDP datagram (≤ `GossipSettings.maxDatagramBytes`) to "host:port".
    case send(to: String, bytes: [UInt8])
    /// Call `onTick(now:)` at this instant (or as soon after as possible).
    case scheduleTick(at: Instant)
    /// A member appeared, changed status or metadata (including this node leaving);
    /// `version` rose. The shell rebuilds the ring from `members`.
    case memberChanged(Member)
}

/// Why an instance could not be created.
public enum GossipError: Error, Sendable, Equatable {
    /// Empty, or longer than `GossipLimits.maxNameBytes` / `maxAddressBytes`.
    case invalidMemberID
    case metaTooLong(bytes: Int)
    case invalidSettings(String)
}
