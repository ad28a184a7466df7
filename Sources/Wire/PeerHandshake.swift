/// The authentication handshake of one peer connection, as a pure state machine: frames in,
/// actions out, no socket, clock or randomness inside (the caller passes each side's 32-byte
/// nonce from `getrandom` and calls `timedOut()` when its timer fires).
///
///     initiator                                   responder
///     hello(version, cluster, idI, nonceI)  --->
///                                           <---  challenge(version, idR, nonceR)
///     proof(MAC_I)                          --->  verify MAC_I, else refuse
///                                           <---  welcome(MAC_R)
///     verify MAC_R, else refuse
///
/// The responder proves itself only after the initiator has, so a node never computes a MAC
/// for a peer that has not shown it holds the secret (no signing oracle for strangers). The
/// MAC inputs and the reasoning behind them are in `PeerHandshakeTranscript` and
/// docs/WIRE.md. Before `established`, any frame other than the next handshake frame refuses
/// the connection; after it, handshake frames do.
///
/// What this does not give: the frames after the handshake are not individually MACed or
/// encrypted, so an attacker who can inject into or take over an established TCP connection
/// is not stopped. Run the peer port on a trusted network or inside a tunnel (docs/WIRE.md).
public struct PeerHandshake: Sendable {
    /// How long the shell lets a handshake run before calling `timedOut()`: 5 s. Three
    /// messages on a LAN take milliseconds; the bound only stops a stalled or silent peer from
    /// holding a connection slot.
    public static let timeoutNanos: UInt64 = 5_000_000_000

    public struct Configuration: Sendable {
        /// The cluster config's "cluster" name: both sides must have the same.
        public var clusterName: String
        /// This node's id from the cluster config.
        public var localNodeId: String
        /// The cluster config's "secret", as UTF-8 bytes: the HMAC key.
        public var sharedSecret: [UInt8]
        public var version: PeerProtocolVersion

        public init(
            clusterName: String, localNodeId: String, sharedSecret: [UInt8],
            version: PeerProtocolVersion = .current
        ) {
            self.clusterName = clusterName
            self.localNodeId = localNodeId
            self.sharedSecret = sharedSecret
            self.version = version
        }
    }

    /// A configuration the handshake cannot run with (a bug in the caller or the config file).
    public enum ConfigurationError: Error, Equatable, Sendable {
        /// Empty, or longer than `PeerHandshakeLimits.maxIdentifierBytes`.
        case badIdentifier(String)
        case emptySecret
        /// A nonce must be `PeerHandshakeLimits.nonceBytes` long.
        case badNonceLength(Int)
    }

    /// Why the connection was refused. The shell logs it, sends the action's goaway if any, and
    /// closes.
    public enum Refusal: Equatable, Sendable, CustomStringConvertible {
        case unsupportedVersion(peer: PeerProtocolVersion, local: PeerProtocolVersion)
        case wrongCluster(expected: String, received: String)
        /// The peer's MAC did not verify: wrong secret, or a proof replayed from another session.
        case authenticationFailed
        /// The peer claimed this node's own id: a reflected connection, never a real peer.
        case peerClaimsLocalNodeId
        /// The initiator dialed one node and another answered.
        case unexpectedPeer(expected: String, received: String)
        /// The peer's nonce equals this side's: our own message sent back to us.
        case reflectedNonce
        /// A frame out of order: `expected` is the handshake frame awaited, nil once established.
        case unexpectedFrame(received: PeerFrameKind, expected: PeerFrameKind?)
        case malformed(PeerHandshakeMessageError)
        /// The peer refused first and said why.
        case peerWentAway(GoAwayCode, reason: String)
        case timedOut

        public var description: String {
            switch self {
            case let .unsupportedVersion(peer, local):
                return "peer speaks protocol \(peer), this node speaks \(local) (major versions differ)"
            case let .wrongCluster(expected, received):
                return "peer is in cluster '\(received)', this node is in '\(expected)'"
            case .authenticationFailed:
                return "peer failed authentication (wrong cluster secret or replayed proof)"
            case .peerClaimsLocalNodeId:
                return "peer claims this node's own id"
            case let .unexpectedPeer(expected, received):
                return "dialed node '\(expected)' but '\(received)' answered"
            case .reflectedNonce:
                return "peer sent back this node's own nonce"
            case let .unexpectedFrame(received, expected):
                if let expected { return "expected \(expected), received \(received)" }
                return "handshake frame \(received) after the handshake"
            case let .malformed(error):
                return "malformed handshake frame: \(error)"
            case let .peerWentAway(code, reason):
                return "peer refused: \(code): \(reason)"
            case .timedOut:
                return "handshake timed out"
            }
        }
    }

    /// What the shell does next.
    public enum Action: Equatable, Sendable {
        /// Nothing.
        case none
        /// Write this frame; the handshake goes on.
        case send(PeerFrame)
        /// The peer is authenticated: write `send` if there is one, raise the decoder's limit
        /// to `PeerFrameLimits.maxPayloadBytes`, and start exchanging requests.
        case established(peerNodeId: String, version: PeerProtocolVersion, send: PeerFrame?)
        /// Write `send` (a goaway) if there is one, then close.
        case refused(Refusal, send: PeerFrame?)
        /// An established connection's frame for the layer above.
        case deliver(PeerFrame)
    }

    public enum Outcome: Equatable, Sendable {
        case established(peerNodeId: String)
        case refused(Refusal)
    }

    private enum State: Sendable {
        case initiatorReady(nonce: [UInt8], expectedPeerNodeId: String?)
        case awaitingChallenge(nonce: [UInt8], helloPayload: [UInt8], expectedPeerNodeId: String?)
        case awaitingWelcome(helloPayload: [UInt8], challengePayload: [UInt8],
                             peerNodeId: String, version: PeerProtocolVersion)
        case awaitingHello(nonce: [UInt8])
        case awaitingProof(helloPayload: [UInt8], challengePayload: [UInt8],
                           peerNodeId: String, version: PeerProtocolVersion)
        case established(peerNodeId: String, version: PeerProtocolVersion)
        case refused(Refusal)
    }

    private let configuration: Configuration
    private var state: State

    /// The side that dialed. `expectedPeerNodeId` is the node it meant to reach, when known:
    /// any other id in the challenge refuses the connection.
    public init(
        initiating configuration: Configuration, nonce: [UInt8], expectedPeerNodeId: String? = nil
    ) throws(ConfigurationError) {
        try Self.validate(configuration, nonce: nonce)
        self.configuration = configuration
        self.state = .initiatorReady(nonce: nonce, expectedPeerNodeId: expectedPeerNodeId)
    }

    /// The side that accepted the connection.
    public init(responding configuration: Configuration, nonce: [UInt8]) throws(ConfigurationError) {
        try Self.validate(configuration, nonce: nonce)
        self.configuration = configuration
        self.state = .awaitingHello(nonce: nonce)
    }

    private static func validate(_ configuration: Configuration, nonce: [UInt8]) throws(ConfigurationError) {
        for identifier in [configuration.clusterName, configuration.localNodeId] {
            let count = identifier.utf8.count
            if count == 0 || count > PeerHandshakeLimits.maxIdentifierBytes {
                throw .badIdentifier(identifier)
            }
        }
        if configuration.sharedSecret.isEmpty { throw .emptySecret }
        if nonce.count != PeerHandshakeLimits.nonceBytes { throw .badNonceLength(nonce.count) }
    }

    public var outcome: Outcome? {
        switch state {
        case let .established(peerNodeId, _): return .established(peerNodeId: peerNodeId)
        case let .refused(refusal): return .refused(refusal)
        default: return nil
        }
    }

    public var isEstablished: Bool {
        if case .established = state { return true }
        return false
    }

    /// Call once, when the TCP connection is up. The initiator sends its hello; the responder
    /// waits for one.
    public mutating func start() -> Action {
        switch state {
        case let .initiatorReady(nonce, expectedPeerNodeId):
            let hello = PeerHello(version: configuration.version, clusterName: configuration.clusterName,
                                  nodeId: configuration.localNodeId, nonce: nonce).frame
            state = .awaitingChallenge(nonce: nonce, helloPayload: hello.payload,
                                       expectedPeerNodeId: expectedPeerNodeId)
            return .send(hello)
        case .awaitingHello:
            return .none
        case .awaitingChallenge, .awaitingWelcome, .awaitingProof, .established, .refused:
            preconditionFailure("PeerHandshake.start() called twice, in state \(state)")
        }
    }

    /// The handshake timer fired. Refuses a connection still handshaking; no effect otherwise.
    public mutating func timedOut() -> Action {
        switch state {
        case .established, .refused:
            return .none
        case .initiatorReady, .awaitingChallenge, .awaitingWelcome, .awaitingHello, .awaitingProof:
            return refuse(.timedOut, code: .handshakeTimeout, reason: "handshake timed out")
        }
    }

    /// A frame from the peer.
    public mutating func receive(_ frame: PeerFrame) -> Action {
        switch state {
        case .refused:
            return .none  // Bytes already buffered behind the refusal: the shell is closing.
        case .established:
            if frame.kind.isHandshake {
                return refuse(.unexpectedFrame(received: frame.kind, expected: nil),
                              code: .protocolError, reason: "handshake frame after the handshake")
            }
            return .deliver(frame)
        default:
            break
        }
        if frame.kind == .goaway {
            let goAway = (try? PeerGoAway(frame: frame))
                ?? PeerGoAway(code: .protocolError, reason: "malformed goaway")
            state = .refused(.peerWentAway(goAway.code, reason: goAway.reason))
            return .refused(.peerWentAway(goAway.code, reason: goAway.reason), send: nil)
        }
        switch state {
        case .initiatorReady:
            return unexpected(frame, expected: nil)
        case let .awaitingHello(nonce):
            return receiveHello(frame, nonce: nonce)
        case let .awaitingChallenge(nonce, helloPayload, expectedPeerNodeId):
            return receiveChallenge(frame, nonce: nonce, helloPayload: helloPayload,
                                    expectedPeerNodeId: expectedPeerNodeId)
        case let .awaitingProof(helloPayload, challengePayload, peerNodeId, version):
            guard frame.kind == .proof else { return unexpected(frame, expected: .proof) }
            let expected = PeerHandshakeTranscript.initiatorMAC(
                secret: configuration.sharedSecret, hello: helloPayload, challenge: challengePayload)
            guard PeerHandshakeTranscript.verify(frame.payload, expected: expected) else {
                return refuse(.authenticationFailed, code: .authenticationFailed, reason: "authentication failed")
            }
            let welcome = PeerHandshakeTranscript.responderMAC(
                secret: configuration.sharedSecret, hello: helloPayload, challenge: challengePayload)
            state = .established(peerNodeId: peerNodeId, version: version)
            return .established(peerNodeId: peerNodeId, version: version,
                                send: PeerFrame(kind: .welcome, payload: welcome))
        case let .awaitingWelcome(helloPayload, challengePayload, peerNodeId, version):
            guard frame.kind == .welcome else { return unexpected(frame, expected: .welcome) }
            let expected = PeerHandshakeTranscript.responderMAC(
                secret: configuration.sharedSecret, hello: helloPayload, challenge: challengePayload)
            guard PeerHandshakeTranscript.verify(frame.payload, expected: expected) else {
                return refuse(.authenticationFailed, code: .authenticationFailed, reason: "authentication failed")
            }
            state = .established(peerNodeId: peerNodeId, version: version)
            return .established(peerNodeId: peerNodeId, version: version, send: nil)
        case .established, .refused:
            preconditionFailure("PeerHandshake.receive: state \(state) handled above")
        }
    }

    private mutating func receiveHello(_ frame: PeerFrame, nonce: [UInt8]) -> Action {
        guard frame.kind == .hello else { return unexpected(frame, expected: .hello) }
        if let refusal = checkVersion(frame) { return refusal }
        let hello: PeerHello
        do {
            hello = try PeerHello(frame: frame)
        } catch {
            return refuse(.malformed(error), code: .protocolError, reason: "malformed hello")
        }
        // Names compare as the bytes sent (what the MAC covers), not by Unicode equivalence.
        guard hello.clusterName.utf8.elementsEqual(configuration.clusterName.utf8) else {
            return refuse(.wrongCluster(expected: configuration.clusterName, received: hello.clusterName),
                          code: .wrongCluster,
                          reason: "this node is in cluster '\(configuration.clusterName)'")
        }
        guard !hello.nodeId.utf8.elementsEqual(configuration.localNodeId.utf8) else {
            return refuse(.peerClaimsLocalNodeId, code: .authenticationFailed, reason: "authentication failed")
        }
        guard hello.nonce != nonce else {
            return refuse(.reflectedNonce, code: .authenticationFailed, reason: "authentication failed")
        }
        let challenge = PeerChallenge(version: configuration.version,
                                      nodeId: configuration.localNodeId, nonce: nonce).frame
        state = .awaitingProof(helloPayload: frame.payload, challengePayload: challenge.payload,
                               peerNodeId: hello.nodeId, version: negotiated(with: hello.version))
        return .send(challenge)
    }

    private mutating func receiveChallenge(
        _ frame: PeerFrame, nonce: [UInt8], helloPayload: [UInt8], expectedPeerNodeId: String?
    ) -> Action {
        guard frame.kind == .challenge else { return unexpected(frame, expected: .challenge) }
        if let refusal = checkVersion(frame) { return refusal }
        let challenge: PeerChallenge
        do {
            challenge = try PeerChallenge(frame: frame)
        } catch {
            return refuse(.malformed(error), code: .protocolError, reason: "malformed challenge")
        }
        guard !challenge.nodeId.utf8.elementsEqual(configuration.localNodeId.utf8) else {
            return refuse(.peerClaimsLocalNodeId, code: .authenticationFailed, reason: "authentication failed")
        }
        if let expectedPeerNodeId, !challenge.nodeId.utf8.elementsEqual(expectedPeerNodeId.utf8) {
            return refuse(.unexpectedPeer(expected: expectedPeerNodeId, received: challenge.nodeId),
                          code: .authenticationFailed, reason: "this node dialed '\(expectedPeerNodeId)'")
        }
        guard challenge.nonce != nonce else {
            return refuse(.reflectedNonce, code: .authenticationFailed, reason: "authentication failed")
        }
        let mac = PeerHandshakeTranscript.initiatorMAC(
            secret: configuration.sharedSecret, hello: helloPayload, challenge: frame.payload)
        state = .awaitingWelcome(helloPayload: helloPayload, challengePayload: frame.payload,
                                 peerNodeId: challenge.nodeId, version: negotiated(with: challenge.version))
        return .send(PeerFrame(kind: .proof, payload: mac))
    }

    /// Refuses a hello or challenge of another major version, read from the two bytes every
    /// version keeps at the head of those payloads.
    private mutating func checkVersion(_ frame: PeerFrame) -> Action? {
        guard let peer = leadingVersion(of: frame.payload) else {
            return refuse(.malformed(.malformed(.truncated(needed: 2, available: frame.payload.count))),
                          code: .protocolError, reason: "malformed \(frame.kind)")
        }
        guard peer.major == configuration.version.major else {
            return refuse(.unsupportedVersion(peer: peer, local: configuration.version),
                          code: .unsupportedVersion,
                          reason: "this node speaks Relay peer protocol \(configuration.version), not \(peer)")
        }
        return nil
    }

    /// Same major; the lower minor, which both sides understand.
    private func negotiated(with peer: PeerProtocolVersion) -> PeerProtocolVersion {
        PeerProtocolVersion(major: configuration.version.major, minor: min(configuration.version.minor, peer.minor))
    }

    private mutating func unexpected(_ frame: PeerFrame, expected: PeerFrameKind?) -> Action {
        refuse(.unexpectedFrame(received: frame.kind, expected: expected),
               code: .protocolError, reason: "unexpected \(frame.kind) frame")
    }

    private mutating func refuse(_ refusal: Refusal, code: GoAwayCode, reason: String) -> Action {
        state = .refused(refusal)
        return .refused(refusal, send: PeerGoAway(code: code, reason: reason).frame)
    }
}
