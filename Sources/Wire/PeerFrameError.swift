/// Why a byte stream is not a valid frame sequence. Any of these ends the connection: after
/// one, the stream's frame boundaries can no longer be trusted, so the decoder keeps throwing
/// the same error.
public enum PeerFrameError: Error, Equatable, Sendable {
    /// The first two bytes were not "RP": not a Relay peer, or a desynchronised stream.
    case badMagic(UInt8, UInt8)
    /// The header layout version (byte 2) is not one this node reads.
    case unsupportedFormatVersion(UInt8)
    /// Byte 3 names no frame kind of this protocol version.
    case unknownKind(UInt8)
    /// The header announces a payload above the limit in force; refused before buffering it.
    case payloadTooLarge(length: Int, max: Int)
    /// A `request` or `response` with correlation id 0.
    case missingCorrelationId(PeerFrameKind)
    /// A kind that carries no correlation id (handshake, `oneway`, `goaway`) had one.
    case unexpectedCorrelationId(PeerFrameKind)
    /// A kind other than `request`, `response`, `oneway` had a nonzero operation.
    case unexpectedOperation(PeerFrameKind)
    /// A `ping` or `pong` had a payload.
    case unexpectedPayload(PeerFrameKind)
}

/// The rules a header must obey, shared by the encoder (so this node never sends what a peer
/// refuses) and the decoder (checked from the 20 header bytes, before any payload is buffered).
enum PeerFrameRules {
    static func check(
        kind: PeerFrameKind, operation: UInt16, correlationId: UInt64,
        payloadLength: Int, maxPayloadBytes: Int
    ) throws(PeerFrameError) {
        guard payloadLength <= maxPayloadBytes else {
            throw .payloadTooLarge(length: payloadLength, max: maxPayloadBytes)
        }
        switch kind {
        case .request, .response:
            if correlationId == 0 { throw .missingCorrelationId(kind) }
        case .ping, .pong:
            if payloadLength != 0 { throw .unexpectedPayload(kind) }
        case .hello, .challenge, .proof, .welcome, .oneway, .goaway:
            if correlationId != 0 { throw .unexpectedCorrelationId(kind) }
        }
        switch kind {
        case .request, .response, .oneway:
            break
        case .hello, .challenge, .proof, .welcome, .ping, .pong, .goaway:
            if operation != 0 { throw .unexpectedOperation(kind) }
        }
    }
}
