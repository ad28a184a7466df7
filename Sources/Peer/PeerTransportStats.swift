/// Counters for metrics and tests, fired at the decision points.
public struct PeerTransportStats: Sendable, Equatable {
    /// Batches handed to the socket: one `TCPConnection.write` each, however many frames.
    public var flushes = 0
    /// Frames in those batches.
    public var framesSent = 0
    /// Oneways never sent: over the bound, unknown peer, peer unreachable or removed.
    public var droppedMessages = 0
    /// Requests failed with `.overloaded`.
    public var overloadedRequests = 0
    /// Handshakes refused, by either side, in either direction (each also calls `onRefused`).
    public var refusedHandshakes = 0
    /// Connections closed for silence (`deadConnectionTimeoutMs`).
    public var deadConnectionsClosed = 0
    /// Accepted connections closed at once: their address was over `acceptRatePerSecond`.
    public var acceptsRateLimited = 0
    /// Accepted connections closed at once: `maxInboundConnections` were open.
    public var acceptsOverLimit = 0
    /// Handshaking connections closed to make room for a newer one (`maxHandshakingConnections`).
    public var handshakesEvicted = 0
    /// Refusal lines `onRefusedLog` held back (`refusalLogIntervalMs`).
    public var refusalLogLinesSuppressed = 0

    public init() {}
}
