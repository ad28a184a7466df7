/// Why a node closes a peer connection: sent in a `goaway` frame just before it closes, so the
/// other side logs a reason instead of "connection reset". The code is what a program acts on;
/// the text is for the operator.
public struct GoAwayCode: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public let rawValue: UInt16
    public init(rawValue: UInt16) { self.rawValue = rawValue }

    /// Orderly close: the node is shutting down or dropping an idle connection.
    public static let normal = GoAwayCode(rawValue: 0)
    /// The peer broke the frame format or the handshake order.
    public static let protocolError = GoAwayCode(rawValue: 1)
    /// The peer's protocol major version is not this node's.
    public static let unsupportedVersion = GoAwayCode(rawValue: 2)
    /// The peer belongs to another cluster.
    public static let wrongCluster = GoAwayCode(rawValue: 3)
    /// The peer's proof did not verify: it lacks the cluster secret (or replayed an old one).
    public static let authenticationFailed = GoAwayCode(rawValue: 4)
    /// The handshake did not finish within `PeerHandshake.timeoutNanos`.
    public static let handshakeTimeout = GoAwayCode(rawValue: 5)

    public var description: String {
        switch self {
        case .normal: return "normal"
        case .protocolError: return "protocol error"
        case .unsupportedVersion: return "unsupported version"
        case .wrongCluster: return "wrong cluster"
        case .authenticationFailed: return "authentication failed"
        case .handshakeTimeout: return "handshake timeout"
        default: return "code \(rawValue)"
        }
    }
}

/// The payload of a `goaway` frame: u16 code, then a u8-length UTF-8 reason.
public struct PeerGoAway: Equatable, Sendable {
    /// Longest reason text, in UTF-8 bytes (the length is one byte).
    public static let maxReasonBytes = 255

    public var code: GoAwayCode
    public var reason: String

    /// A reason longer than `maxReasonBytes` is cut at a character boundary.
    public init(code: GoAwayCode, reason: String) {
        self.code = code
        var kept = ""
        for character in reason {
            if kept.utf8.count + character.utf8.count > Self.maxReasonBytes { break }
            kept.append(character)
        }
        self.reason = kept
    }

    public init(frame: PeerFrame) throws {
        guard frame.kind == .goaway else {
            throw PeerHandshakeMessageError.wrongKind(expected: .goaway, received: frame.kind)
        }
        var reader = WireReader(frame.payload)
        code = GoAwayCode(rawValue: try reader.readU16())
        reason = try reader.readShortString(maxBytes: Self.maxReasonBytes)
        try reader.expectEnd()
    }

    public var frame: PeerFrame {
        var writer = WireWriter()
        writer.writeU16(code.rawValue)
        writer.writeShortString(reason)
        return PeerFrame(kind: .goaway, payload: writer.bytes)
    }
}
