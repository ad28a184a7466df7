/// What a frame is for: byte 3 of the header (docs/WIRE.md, "Frame header"). The first four
/// are the handshake (`PeerHandshake`); the rest flow only once a connection is established.
/// New kinds need a new protocol major version: a receiver refuses a kind it does not know.
public enum PeerFrameKind: UInt8, Sendable, CaseIterable {
    /// Initiator -> responder: versions, cluster, node id, the initiator's nonce.
    case hello = 1
    /// Responder -> initiator: versions, node id, the responder's nonce.
    case challenge = 2
    /// Initiator -> responder: HMAC proving the initiator holds the cluster secret.
    case proof = 3
    /// Responder -> initiator: HMAC proving the responder holds the cluster secret.
    case welcome = 4
    /// Expects exactly one `response` carrying the same correlation id.
    case request = 5
    /// Answers the `request` with the same correlation id.
    case response = 6
    /// Fire and forget: no correlation id, no response.
    case oneway = 7
    /// Liveness probe; the peer answers `pong` with the same correlation id.
    case ping = 8
    case pong = 9
    /// "I am closing this connection, and why": a code and a short reason.
    case goaway = 10

    /// Handshake frames carry no correlation id and no operation.
    public var isHandshake: Bool {
        switch self {
        case .hello, .challenge, .proof, .welcome: return true
        default: return false
        }
    }
}

/// Bits of the header's 16-bit flags field. Bits not defined here are sent as zero and ignored
/// on receipt, so a later minor version can define them without breaking older peers (it only
/// sets them once both sides have negotiated that minor version).
public struct PeerFrameFlags: OptionSet, Sendable, Hashable {
    public let rawValue: UInt16
    public init(rawValue: UInt16) { self.rawValue = rawValue }

    /// On a `response`: the request failed and the payload is the layer above's error body,
    /// not a result.
    public static let errorResponse = PeerFrameFlags(rawValue: 1 << 0)
}
