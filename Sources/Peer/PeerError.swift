/// Why a request got no result. Each is something the caller can act on: retry later
/// (`unreachable`, `timedOut`, `overloaded`, `closed`), fix the call (`unknownPeer`,
/// `payloadTooLarge`), or handle the remote handler's answer (`remote`).
public enum PeerError: Error, Sendable, Equatable {
    /// No connection could be made: dials failed `dialAttemptsBeforeUnreachable` times in a
    /// row, or the peer refused the handshake (wrong secret or cluster, see `onRefused`).
    case unreachable
    /// No response before the request's deadline (it may still have run on the peer).
    case timedOut
    /// The peer's queue is over `maxQueuedBytesPerPeer` or `maxQueuedMessagesPerPeer`:
    /// it is not keeping up. Nothing was sent.
    case overloaded
    /// The peer's handler answered with an error; the message is its text.
    case remote(String)
    /// The connection carrying the request closed before the answer (the request may have
    /// run), the peer was removed, or the transport closed.
    case closed
    /// No `setPeer` for this id.
    case unknownPeer
    /// The payload is over `PeerFrameLimits.maxPayloadBytes` and can never be sent.
    case payloadTooLarge(bytes: Int)
}
