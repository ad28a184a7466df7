/// Why a handshake frame's payload could not be read.
public enum PeerHandshakeMessageError: Error, Equatable, Sendable {
    case wrongKind(expected: PeerFrameKind, received: PeerFrameKind)
    case malformed(WireError)
    /// A node id or cluster name that is empty.
    case emptyIdentifier
}

/// Bounds of the handshake's fields (docs/WIRE.md, "hello").
public enum PeerHandshakeLimits {
    /// Longest cluster name or node id, in UTF-8 bytes: 64 holds any name an operator types
    /// into a cluster config, and keeps a hello far under `maxHandshakePayloadBytes`.
    public static let maxIdentifierBytes = 64
    /// Length of each side's nonce: 32 bytes from the OS random source (`getrandom`), the
    /// size of the HMAC-SHA256 output, so guessing or repeating one is out of reach.
    public static let nonceBytes = 32
    /// Length of a proof or welcome: one HMAC-SHA256 output.
    public static let macBytes = 32
}

/// `hello` payload, initiator -> responder: u8 major, u8 minor, u8-length cluster name,
/// u8-length node id, 32-byte nonce. Bytes after the nonce are reserved for later minor
/// versions: 1.0 sends none and ignores them (they are still covered by both MACs).
public struct PeerHello: Equatable, Sendable {
    public var version: PeerProtocolVersion
    public var clusterName: String
    public var nodeId: String
    public var nonce: [UInt8]

    public init(version: PeerProtocolVersion, clusterName: String, nodeId: String, nonce: [UInt8]) {
        self.version = version
        self.clusterName = clusterName
        self.nodeId = nodeId
        self.nonce = nonce
    }

    public init(frame: PeerFrame) throws(PeerHandshakeMessageError) {
        guard frame.kind == .hello else {
            throw .wrongKind(expected: .hello, received: frame.kind)
        }
        do {
            var reader = WireReader(frame.payload)
            version = PeerProtocolVersion(major: try reader.readU8(), minor: try reader.readU8())
            clusterName = try reader.readShortString(maxBytes: PeerHandshakeLimits.maxIdentifierBytes)
            nodeId = try reader.readShortString(maxBytes: PeerHandshakeLimits.maxIdentifierBytes)
            nonce = try reader.readRaw(count: PeerHandshakeLimits.nonceBytes)
        } catch let error as WireError {
            throw .malformed(error)
        } catch {
            throw .malformed(.invalidUTF8)
        }
        if clusterName.isEmpty || nodeId.isEmpty { throw .emptyIdentifier }
    }

    public var frame: PeerFrame {
        var writer = WireWriter()
        writer.writeU8(version.major)
        writer.writeU8(version.minor)
        writer.writeShortString(clusterName)
        writer.writeShortString(nodeId)
        writer.writeRaw(nonce)
        return PeerFrame(kind: .hello, payload: writer.bytes)
    }
}

/// `challenge` payload, responder -> initiator: u8 major, u8 minor, u8-length node id,
/// 32-byte nonce, then (like `hello`) bytes reserved for later minor versions.
public struct PeerChallenge: Equatable, Sendable {
    public var version: PeerProtocolVersion
    public var nodeId: String
    public var nonce: [UInt8]

    public init(version: PeerProtocolVersion, nodeId: String, nonce: [UInt8]) {
        self.version = version
        self.nodeId = nodeId
        self.nonce = nonce
    }

    public init(frame: PeerFrame) throws(PeerHandshakeMessageError) {
        guard frame.kind == .challenge else {
            throw .wrongKind(expected: .challenge, received: frame.kind)
        }
        do {
            var reader = WireReader(frame.payload)
            version = PeerProtocolVersion(major: try reader.readU8(), minor: try reader.readU8())
            nodeId = try reader.readShortString(maxBytes: PeerHandshakeLimits.maxIdentifierBytes)
            nonce = try reader.readRaw(count: PeerHandshakeLimits.nonceBytes)
        } catch let error as WireError {
            throw .malformed(error)
        } catch {
            throw .malformed(.invalidUTF8)
        }
        if nodeId.isEmpty { throw .emptyIdentifier }
    }

    public var frame: PeerFrame {
        var writer = WireWriter()
        writer.writeU8(version.major)
        writer.writeU8(version.minor)
        writer.writeShortString(nodeId)
        writer.writeRaw(nonce)
        return PeerFrame(kind: .challenge, payload: writer.bytes)
    }
}

/// The protocol version at the head of a `hello` or `challenge` payload. Its two bytes stay in
/// that place in every version, so a node can refuse an unknown major version with a clear
/// reason before trying to read the rest.
func leadingVersion(of payload: [UInt8]) -> PeerProtocolVersion? {
    guard payload.count >= 2 else { return nil }
    return PeerProtocolVersion(major: payload[0], minor: payload[1])
}
