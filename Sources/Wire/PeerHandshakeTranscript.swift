import Hashing

/// The bytes each side MACs to prove it holds the cluster secret (docs/WIRE.md, "Handshake").
///
///     mac = HMAC-SHA256(key: secret,
///                       message: u8 len(label) ‖ label ‖ u32 len(H) ‖ H ‖ u32 len(C) ‖ C)
///
/// where H and C are the `hello` and `challenge` payloads exactly as sent. Why each part:
/// - Both payloads carry both nonces, so a proof is bound to this session: a proof recorded
///   from another session names another responder nonce and fails (replay).
/// - They carry both node ids and the cluster name, so a proof made for one peer or cluster
///   is worthless to another (Lowe 1995: name the parties in what is signed).
/// - The label differs by direction, so the responder's MAC can never serve as the
///   initiator's and vice versa: the reflection attack of Bird et al., "Systematic design of
///   two-party authentication protocols" (CRYPTO '91), which ISO/IEC 9798-2 also prevents by
///   naming the direction. Each field is length-prefixed, so no two different inputs give
///   the same message.
/// - The versions are in the payloads, so a middleman cannot downgrade them unnoticed.
/// HMAC (RFC 2104) is a PRF keyed by the secret; verification compares in constant time.
enum PeerHandshakeTranscript {
    static let initiatorLabel = Array("relay-peer-v1 initiator proof".utf8)
    static let responderLabel = Array("relay-peer-v1 responder proof".utf8)

    static func message(label: [UInt8], hello: [UInt8], challenge: [UInt8]) -> [UInt8] {
        var writer = WireWriter(reservingCapacity: 1 + label.count + 8 + hello.count + challenge.count)
        writer.writeShortBytes(label)
        writer.writeBytes(hello)
        writer.writeBytes(challenge)
        return writer.bytes
    }

    static func initiatorMAC(secret: [UInt8], hello: [UInt8], challenge: [UInt8]) -> [UInt8] {
        HMAC.sha256(key: secret, message: message(label: initiatorLabel, hello: hello, challenge: challenge))
    }

    static func responderMAC(secret: [UInt8], hello: [UInt8], challenge: [UInt8]) -> [UInt8] {
        HMAC.sha256(key: secret, message: message(label: responderLabel, hello: hello, challenge: challenge))
    }

    static func verify(_ mac: [UInt8], expected: [UInt8]) -> Bool {
        constantTimeEquals(mac, expected)
    }
}
