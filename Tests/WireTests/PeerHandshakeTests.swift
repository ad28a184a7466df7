import Wire
import XCTest

final class PeerHandshakeTests: XCTestCase {
    let nonceA = (0..<32).map { UInt8($0) }
    let nonceB = (32..<64).map { UInt8($0) }
    let nonceC = [UInt8](repeating: 0xC3, count: 32)

    func config(_ node: String, cluster: String = "local-3", secret: String = "change-me") -> PeerHandshake.Configuration {
        PeerHandshake.Configuration(clusterName: cluster, localNodeId: node, sharedSecret: Array(secret.utf8))
    }

    /// Starts both sides and carries each frame through the real encoder and decoder until
    /// neither has anything to send. Returns every frame each side sent.
    @discardableResult
    func converse(_ initiator: inout PeerHandshake, _ responder: inout PeerHandshake) throws -> (fromInitiator: [PeerFrame], fromResponder: [PeerFrame]) {
        var toResponder: [PeerFrame] = []
        var toInitiator: [PeerFrame] = []
        var sentByInitiator: [PeerFrame] = []
        var sentByResponder: [PeerFrame] = []
        func outgoing(_ action: PeerHandshake.Action) -> PeerFrame? {
            switch action {
            case .send(let frame): return frame
            case .established(_, _, let frame), .refused(_, let frame): return frame
            case .none, .deliver: return nil
            }
        }
        func wire(_ frame: PeerFrame) throws -> PeerFrame {
            var decoder = PeerFrameDecoder(maxPayloadBytes: PeerFrameLimits.maxHandshakePayloadBytes)
            decoder.feed(try PeerFrameEncoder.encode(frame))
            return try XCTUnwrap(try decoder.next())
        }
        if let frame = outgoing(initiator.start()) { toResponder.append(frame); sentByInitiator.append(frame) }
        if let frame = outgoing(responder.start()) { toInitiator.append(frame); sentByResponder.append(frame) }
        var steps = 0
        while !(toResponder.isEmpty && toInitiator.isEmpty), steps < 20 {
            steps += 1
            if !toResponder.isEmpty, let frame = outgoing(responder.receive(try wire(toResponder.removeFirst()))) {
                toInitiator.append(frame); sentByResponder.append(frame)
            }
            if !toInitiator.isEmpty, let frame = outgoing(initiator.receive(try wire(toInitiator.removeFirst()))) {
                toResponder.append(frame); sentByInitiator.append(frame)
            }
        }
        return (sentByInitiator, sentByResponder)
    }

    func testHappyPathEstablishesBothSides() throws {
        var initiator = try PeerHandshake(initiating: config("n1"), nonce: nonceA, expectedPeerNodeId: "n2")
        var responder = try PeerHandshake(responding: config("n2"), nonce: nonceB)
        let sent = try converse(&initiator, &responder)
        XCTAssertEqual(sent.fromInitiator.map(\.kind), [.hello, .proof])
        XCTAssertEqual(sent.fromResponder.map(\.kind), [.challenge, .welcome])
        XCTAssertEqual(initiator.outcome, .established(peerNodeId: "n2"))
        XCTAssertEqual(responder.outcome, .established(peerNodeId: "n1"))
        XCTAssertTrue(initiator.isEstablished && responder.isEstablished)
    }

    /// Pins the MAC inputs of docs/WIRE.md: the expected values were computed independently
    /// with Python's hmac module from the byte layout written there.
    func testProofAndWelcomeMatchTheDocumentedTranscript() throws {
        var initiator = try PeerHandshake(initiating: config("n1"), nonce: nonceA)
        var responder = try PeerHandshake(responding: config("n2"), nonce: nonceB)
        let sent = try converse(&initiator, &responder)
        XCTAssertEqual(hex(sent.fromInitiator[0].payload),
                       "0100076c6f63616c2d33026e31000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f")
        XCTAssertEqual(hex(sent.fromResponder[0].payload),
                       "0100026e32202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f")
        XCTAssertEqual(hex(sent.fromInitiator[1].payload), "6088c3eeb2f801ab356be84405983101c8a124bb84de7df385d1474255d03c75")
        XCTAssertEqual(hex(sent.fromResponder[1].payload), "deefd754bfbd0b7312bd5b9d826c3bb40ceeb2519594f2d4c07de7849f1b8b29")
    }

    func testEstablishedActionsCarryPeerAndVersion() throws {
        var initiator = try PeerHandshake(initiating: config("n1"), nonce: nonceA)
        var responder = try PeerHandshake(responding: config("n2"), nonce: nonceB)
        guard case .send(let hello) = initiator.start() else { return XCTFail("initiator sends hello") }
        XCTAssertEqual(responder.start(), .none)
        guard case .send(let challenge) = responder.receive(hello) else { return XCTFail("challenge") }
        guard case .send(let proof) = initiator.receive(challenge) else { return XCTFail("proof") }
        guard case .established("n1", .current, .some(let welcome)) = responder.receive(proof) else { return XCTFail("welcome") }
        XCTAssertEqual(initiator.receive(welcome), .established(peerNodeId: "n2", version: .current, send: nil))
    }

    func testWrongSecretOnTheInitiatorIsRefusedOnBothSides() throws {
        var initiator = try PeerHandshake(initiating: config("n1", secret: "guess"), nonce: nonceA)
        var responder = try PeerHandshake(responding: config("n2"), nonce: nonceB)
        let sent = try converse(&initiator, &responder)
        XCTAssertEqual(responder.outcome, .refused(.authenticationFailed))
        XCTAssertEqual(initiator.outcome, .refused(.peerWentAway(.authenticationFailed, reason: "authentication failed")))
        XCTAssertFalse(sent.fromResponder.contains { $0.kind == .welcome }, "no MAC for a stranger")
    }

    func testWrongSecretOnTheResponderIsRefusedOnBothSides() throws {
        var initiator = try PeerHandshake(initiating: config("n1"), nonce: nonceA)
        var responder = try PeerHandshake(responding: config("n2", secret: "other"), nonce: nonceB)
        try converse(&initiator, &responder)
        XCTAssertEqual(responder.outcome, .refused(.authenticationFailed))
        XCTAssertEqual(initiator.outcome, .refused(.peerWentAway(.authenticationFailed, reason: "authentication failed")))
    }

    func testInitiatorRefusesAResponderWhoseWelcomeDoesNotVerify() throws {
        // An impostor responder without the secret that skips checking the proof and answers
        // with a made-up welcome.
        var initiator = try PeerHandshake(initiating: config("n1"), nonce: nonceA)
        guard case .send = initiator.start() else { return XCTFail() }
        let challenge = PeerChallenge(version: .current, nodeId: "n2", nonce: nonceB).frame
        guard case .send(let proof) = initiator.receive(challenge) else { return XCTFail() }
        XCTAssertEqual(proof.kind, .proof)
        let action = initiator.receive(PeerFrame(kind: .welcome, payload: [UInt8](repeating: 0, count: 32)))
        guard case .refused(.authenticationFailed, .some(let goAway)) = action else { return XCTFail("\(action)") }
        XCTAssertEqual(try PeerGoAway(frame: goAway).code, .authenticationFailed)
        XCTAssertEqual(initiator.outcome, .refused(.authenticationFailed))
    }

    func testWrongClusterIsRefusedWithAClearReason() throws {
        var initiator = try PeerHandshake(initiating: config("n1", cluster: "prod"), nonce: nonceA)
        var responder = try PeerHandshake(responding: config("n2", cluster: "local-3"), nonce: nonceB)
        try converse(&initiator, &responder)
        XCTAssertEqual(responder.outcome, .refused(.wrongCluster(expected: "local-3", received: "prod")))
        guard case .refused(.peerWentAway(.wrongCluster, let reason)) = initiator.outcome else {
            return XCTFail("\(String(describing: initiator.outcome))")
        }
        XCTAssertTrue(reason.contains("local-3"))
    }

    func testReplayedProofFromAnotherSessionIsRefused() throws {
        // Session 1: a genuine exchange an eavesdropper records.
        var initiator = try PeerHandshake(initiating: config("n1"), nonce: nonceA)
        var responder = try PeerHandshake(responding: config("n2"), nonce: nonceB)
        let recorded = try converse(&initiator, &responder)
        XCTAssertTrue(responder.isEstablished)

        // Session 2: the attacker replays the recorded hello and proof; n2 picked a new nonce.
        var victim = try PeerHandshake(responding: config("n2"), nonce: nonceC)
        _ = victim.start()
        guard case .send = victim.receive(recorded.fromInitiator[0]) else { return XCTFail("challenge") }
        guard case .refused(.authenticationFailed, _) = victim.receive(recorded.fromInitiator[1]) else {
            return XCTFail("replayed proof must fail")
        }
        XCTAssertEqual(victim.outcome, .refused(.authenticationFailed))
    }

    func testServerChallengeSentBackToTheServerIsRefused() throws {
        var responder = try PeerHandshake(responding: config("n2"), nonce: nonceB)
        _ = responder.start()
        let hello = PeerHello(version: .current, clusterName: "local-3", nodeId: "n1", nonce: nonceA).frame
        guard case .send(let challenge) = responder.receive(hello) else { return XCTFail() }
        XCTAssertEqual(responder.receive(challenge).refusal, .unexpectedFrame(received: .challenge, expected: .proof))
    }

    func testServerNonceReflectedInAHelloIsRefused() throws {
        // The attacker copies the server's nonce from one connection's challenge into its hello.
        var responder = try PeerHandshake(responding: config("n2"), nonce: nonceB)
        _ = responder.start()
        let hello = PeerHello(version: .current, clusterName: "local-3", nodeId: "n1", nonce: nonceB).frame
        XCTAssertEqual(responder.receive(hello).refusal, .reflectedNonce)
    }

    func testInitiatorHelloReflectedBackAsChallengeIsRefused() throws {
        var initiator = try PeerHandshake(initiating: config("n1"), nonce: nonceA)
        guard case .send = initiator.start() else { return XCTFail() }
        let mirrored = PeerChallenge(version: .current, nodeId: "n9", nonce: nonceA).frame
        XCTAssertEqual(initiator.receive(mirrored).refusal, .reflectedNonce)
    }

    func testNodeDialingItselfThroughAReflectorIsRefused() throws {
        // n2 dials out; an attacker bounces n2's own hello back into n2's listening port.
        var dialer = try PeerHandshake(initiating: config("n2"), nonce: nonceA)
        guard case .send(let hello) = dialer.start() else { return XCTFail() }
        var listener = try PeerHandshake(responding: config("n2"), nonce: nonceB)
        _ = listener.start()
        XCTAssertEqual(listener.receive(hello).refusal, .peerClaimsLocalNodeId)
    }

    func testResponderMACCannotServeAsTheInitiatorsProof() throws {
        // Even an attacker holding the responder-direction MAC for this very session (say from
        // an oracle) cannot pass it off as the initiator's proof: the labels differ.
        var initiator = try PeerHandshake(initiating: config("n1"), nonce: nonceA)
        var responder = try PeerHandshake(responding: config("n2"), nonce: nonceB)
        let genuine = try converse(&initiator, &responder)
        let responderMAC = genuine.fromResponder[1].payload

        var victim = try PeerHandshake(responding: config("n2"), nonce: nonceB)
        _ = victim.start()
        _ = victim.receive(genuine.fromInitiator[0])
        XCTAssertEqual(victim.receive(PeerFrame(kind: .proof, payload: responderMAC)).refusal, .authenticationFailed)
    }

    func testRequestBeforeEstablishedIsRefused() throws {
        var responder = try PeerHandshake(responding: config("n2"), nonce: nonceB)
        _ = responder.start()
        XCTAssertEqual(responder.receive(.request(id: 1, operation: 1, payload: [])).refusal,
                       .unexpectedFrame(received: .request, expected: .hello))

        var midway = try PeerHandshake(responding: config("n2"), nonce: nonceB)
        _ = midway.start()
        _ = midway.receive(PeerHello(version: .current, clusterName: "local-3", nodeId: "n1", nonce: nonceA).frame)
        XCTAssertEqual(midway.receive(.oneway(operation: 1, payload: [])).refusal,
                       .unexpectedFrame(received: .oneway, expected: .proof))
        XCTAssertEqual(midway.receive(.request(id: 1, operation: 1, payload: [])), .none, "nothing after a refusal")
    }

    func testFramesAfterEstablishedAreDeliveredButHandshakeFramesAreNot() throws {
        var initiator = try PeerHandshake(initiating: config("n1"), nonce: nonceA)
        var responder = try PeerHandshake(responding: config("n2"), nonce: nonceB)
        let sent = try converse(&initiator, &responder)
        let request = PeerFrame.request(id: 9, operation: 4, payload: [1])
        XCTAssertEqual(responder.receive(request), .deliver(request))
        XCTAssertEqual(responder.receive(sent.fromInitiator[1]).refusal, .unexpectedFrame(received: .proof, expected: nil))
    }

    func testUnknownMajorVersionIsRefusedWithBothVersionsNamed() throws {
        var responder = try PeerHandshake(responding: config("n2"), nonce: nonceB)
        _ = responder.start()
        // A future major version may lay out the rest of the hello differently: only the first
        // two bytes are read.
        let future = PeerFrame(kind: .hello, payload: [2, 5, 0xFF, 0xFF])
        let action = responder.receive(future)
        let expected = PeerHandshake.Refusal.unsupportedVersion(peer: PeerProtocolVersion(major: 2, minor: 5), local: .current)
        XCTAssertEqual(action.refusal, expected)
        guard case .refused(_, .some(let goAwayFrame)) = action else { return XCTFail() }
        let goAway = try PeerGoAway(frame: goAwayFrame)
        XCTAssertEqual(goAway.code, .unsupportedVersion)
        XCTAssertTrue(goAway.reason.contains("1.0") && goAway.reason.contains("2.5"), goAway.reason)
        XCTAssertTrue(expected.description.contains("2.5"))
    }

    func testMinorVersionsNegotiateDownToTheLower() throws {
        var newer = config("n1")
        newer.version = PeerProtocolVersion(major: 1, minor: 3)
        var initiator = try PeerHandshake(initiating: newer, nonce: nonceA)
        var responder = try PeerHandshake(responding: config("n2"), nonce: nonceB)
        guard case .send(let hello) = initiator.start() else { return XCTFail() }
        _ = responder.start()
        guard case .send(let challenge) = responder.receive(hello) else { return XCTFail() }
        guard case .send(let proof) = initiator.receive(challenge) else { return XCTFail() }
        guard case .established(_, let version, .some(let welcome)) = responder.receive(proof) else { return XCTFail() }
        XCTAssertEqual(version, PeerProtocolVersion(major: 1, minor: 0))
        XCTAssertEqual(initiator.receive(welcome), .established(peerNodeId: "n2", version: PeerProtocolVersion(major: 1, minor: 0), send: nil))
    }

    func testInitiatorRefusesAnUnexpectedPeer() throws {
        var initiator = try PeerHandshake(initiating: config("n1"), nonce: nonceA, expectedPeerNodeId: "n2")
        var responder = try PeerHandshake(responding: config("n3"), nonce: nonceB)
        let sent = try converse(&initiator, &responder)
        XCTAssertEqual(initiator.outcome, .refused(.unexpectedPeer(expected: "n2", received: "n3")))
        XCTAssertFalse(sent.fromInitiator.contains { $0.kind == .proof }, "no proof for the wrong node")
    }

    func testTimeoutRefusesOnlyWhileHandshaking() throws {
        var responder = try PeerHandshake(responding: config("n2"), nonce: nonceB)
        _ = responder.start()
        guard case .refused(.timedOut, .some(let goAway)) = responder.timedOut() else { return XCTFail() }
        XCTAssertEqual(try PeerGoAway(frame: goAway).code, .handshakeTimeout)

        var initiator = try PeerHandshake(initiating: config("n1"), nonce: nonceA)
        var other = try PeerHandshake(responding: config("n2"), nonce: nonceB)
        try converse(&initiator, &other)
        XCTAssertEqual(initiator.timedOut(), .none)
        XCTAssertTrue(initiator.isEstablished)
    }

    func testMalformedHelloIsRefused() throws {
        var responder = try PeerHandshake(responding: config("n2"), nonce: nonceB)
        _ = responder.start()
        let truncated = PeerFrame(kind: .hello, payload: [1, 0, 7, 0x6C])
        guard case .malformed? = responder.receive(truncated).refusal else { return XCTFail() }
    }

    func testBadConfigurationIsRejected() {
        XCTAssertThrowsError(try PeerHandshake(responding: config("n2"), nonce: [1, 2, 3])) {
            XCTAssertEqual($0 as? PeerHandshake.ConfigurationError, .badNonceLength(3))
        }
        XCTAssertThrowsError(try PeerHandshake(responding: config(""), nonce: nonceB))
        XCTAssertThrowsError(try PeerHandshake(responding: config("n2", secret: ""), nonce: nonceB)) {
            XCTAssertEqual($0 as? PeerHandshake.ConfigurationError, .emptySecret)
        }
        XCTAssertThrowsError(try PeerHandshake(responding: config(String(repeating: "x", count: 65)), nonce: nonceB))
    }
}

extension PeerHandshake.Action {
    var refusal: PeerHandshake.Refusal? {
        if case .refused(let refusal, _) = self { return refusal }
        return nil
    }
}
