import Wire

/// How a request's caller hears back: exactly once, with the response payload or an error.
public typealias PeerReply = (Result<[UInt8], PeerError>) -> Void

/// A request or oneway on its way to a peer. `reply` is nil for a oneway.
///
/// `@unchecked Sendable` only so it can be a `RequestTracker` context: like everything in this
/// module it is created and used on the event loop's thread alone.
struct OutboundMessage: @unchecked Sendable {
    let operation: UInt16
    let payload: [UInt8]
    let reply: PeerReply?

    /// Bytes it takes on the wire, counted against `maxQueuedBytesPerPeer`.
    var byteCount: Int { PeerFrameLimits.headerBytes + payload.count }
}

/// The caller of a request written to the connection, awaiting the response.
struct PendingReply: @unchecked Sendable {
    let reply: PeerReply
}
