import Net
import Wire

/// One TCP connection to another node: the handshake (`PeerHandshake`), framing
/// (`PeerFrameDecoder`), batching (`FrameBatch`), liveness pings and read backpressure. It
/// knows nothing of requests' callers: established frames go to `onFrame`, and the transport
/// and the link decide what they mean. Loop thread only.
final class PeerConnection {
    /// How a connection ended, reported once through `onClosed`.
    enum End: Equatable {
        /// The handshake refused the peer or was refused by it (or timed out); the reason is
        /// for the operator's log, the kind (`refusalKind`) groups it for `RateLimitedLog`.
        case refused(String, kind: String)
        /// The socket closed or broke, a frame broke the format, the peer went away, or it
        /// fell silent.
        case dropped(String)
    }

    private enum State {
        case handshaking(PeerHandshake)
        case established(peerID: String)
        case closed
    }

    /// The side that accepted the connection: it answers requests, so it also stops reading
    /// while its own responses back up (the dialer never stops reading responses, so two
    /// nodes cannot both wait on each other).
    let isResponder: Bool
    var remoteAddress: String { tcp.remoteAddress }

    var onEstablished: ((String) -> Void)?
    var onFrame: ((PeerFrame) -> Void)?
    var onClosed: ((End) -> Void)?
    /// The batch became non-empty: flush it at the end of this loop turn.
    var onDirty: ((PeerConnection) -> Void)?
    /// A batch of this many frames was written.
    var onFlush: ((Int) -> Void)?
    /// The connection was closed for silence.
    var onDead: (() -> Void)?

    private let tcp: TCPConnection
    private weak var loop: EventLoop?
    private let settings: PeerSettings
    private var state: State
    private var decoder = PeerFrameDecoder(maxPayloadBytes: PeerFrameLimits.maxHandshakePayloadBytes)
    private var batch: FrameBatch
    private var isDirty = false
    private var handshakeTimer: TimerID?
    private var livenessTimer: TimerID?
    private var lastHeardMs: Int64 = 0
    private var sentSinceTick = false
    private var nextPingID: UInt64 = 1
    private var isDraining = false
    private var pausedForAnswers = false
    private var pausedForWrites = false
    private var resumeScheduled = false
    /// Requests handed to `onFrame` whose `answer` has not come yet.
    private(set) var unansweredRequests = 0

    init(tcp: TCPConnection, loop: EventLoop, handshake: PeerHandshake, isResponder: Bool, settings: PeerSettings) {
        self.tcp = tcp
        self.loop = loop
        self.state = .handshaking(handshake)
        self.isResponder = isResponder
        self.settings = settings
        self.batch = FrameBatch(maxBatchBytes: settings.maxBatchBytes)
    }

    var peerID: String? {
        if case .established(let peerID) = state { return peerID }
        return nil
    }

    var isClosed: Bool {
        if case .closed = state { return true }
        return false
    }

    /// Bytes waiting to go out: the kernel refused them, or they are in this turn's batch.
    var queuedBytes: Int { tcp.pendingWriteBytes + batch.bytes.count }

    /// Takes over the socket and starts the handshake (the initiator sends its hello).
    func start() {
        guard let loop, case .handshaking(var handshake) = state else { return }
        tcp.onRead = { [weak self] bytes in self?.didRead(bytes) }
        tcp.onClose = { [weak self] error in
            self?.socketClosed(error.map { "\($0)" } ?? "closed by peer")
        }
        tcp.onDrain = { [weak self] in self?.writesDrained() }
        handshakeTimer = loop.schedule(afterMs: settings.handshakeTimeoutMs) { [weak self] in
            self?.handshakeTimedOut()
        }
        let action = handshake.start()
        state = .handshaking(handshake)
        perform(action)
    }

    /// Queues a frame for this turn's batch. False if the connection is closed.
    @discardableResult
    func send(_ frame: PeerFrame) -> Bool {
        guard !isClosed else { return false }
        if batch.wouldOverflow(frame) { flush() }
        do {
            try batch.append(frame)
        } catch {
            return false  // callers check payload sizes first; nothing else makes a frame invalid
        }
        sentSinceTick = true
        if batch.shouldFlush {
            flush()
        } else if !isDirty {
            isDirty = true
            onDirty?(self)
        }
        return true
    }

    /// The answer to a request this connection delivered.
    func answer(requestID: UInt64, operation: UInt16, result: Result<[UInt8], PeerHandlerError>) {
        unansweredRequests -= 1
        if pausedForAnswers, unansweredRequests <= settings.maxUnansweredRequestsPerPeer / 2 {
            pausedForAnswers = false
            scheduleResume()
        }
        guard case .established = state else { return }
        switch result {
        case .success(let payload) where payload.count <= PeerFrameLimits.maxPayloadBytes:
            send(.response(to: requestID, operation: operation, payload: payload))
        case .success(let payload):
            send(.response(to: requestID, operation: operation,
                           payload: Array("response of \(payload.count) bytes is too large".utf8), isError: true))
        case .failure(let error):
            send(.response(to: requestID, operation: operation,
                           payload: truncatedUTF8(error.message, maxBytes: settings.maxErrorMessageBytes), isError: true))
        }
    }

    /// End of the loop turn: write what the turn produced.
    func flushAtTurnEnd() {
        isDirty = false
        flush()
    }

    /// Closes, after a goaway if `goAway` is given (flushed with what is already batched).
    /// Reports `end` through `onClosed`, synchronously.
    func close(goAway: PeerGoAway?, end: End) {
        close(sending: goAway?.frame, end: end)
    }

    // MARK: Reading

    private func didRead(_ bytes: UnsafeRawBufferPointer) {
        guard let loop else { return }
        lastHeardMs = loop.monotonicMs
        decoder.feed(bytes)
        drain()
    }

    /// Handles whole frames until none is left or reading is paused (frames then wait in the
    /// decoder, which holds at most one read's worth).
    private func drain() {
        guard !isDraining else { return }
        isDraining = true
        defer { isDraining = false }
        while !isClosed, !pausedForAnswers {
            let frame: PeerFrame
            do {
                guard let next = try decoder.next() else { return }
                frame = next
            } catch {
                let end: End = peerID == nil ? .refused("bad frame: \(error)", kind: "protocol") : .dropped("bad frame: \(error)")
                close(goAway: PeerGoAway(code: .protocolError, reason: "bad frame: \(error)"), end: end)
                return
            }
            receive(frame)
        }
    }

    private func receive(_ frame: PeerFrame) {
        switch state {
        case .closed:
            return
        case .handshaking(var handshake):
            let action = handshake.receive(frame)
            state = .handshaking(handshake)
            perform(action)
        case .established:
            receiveEstablished(frame)
        }
    }

    private func receiveEstablished(_ frame: PeerFrame) {
        switch frame.kind {
        case .hello, .challenge, .proof, .welcome:
            close(goAway: PeerGoAway(code: .protocolError, reason: "handshake frame after the handshake"),
                  end: .dropped("peer sent \(frame.kind) after the handshake"))
        case .ping:
            send(.pong(id: frame.correlationId))
        case .pong:
            break  // its arrival already counted as hearing from the peer
        case .goaway:
            let goAway = (try? PeerGoAway(frame: frame)) ?? PeerGoAway(code: .protocolError, reason: "malformed goaway")
            close(sending: nil, end: .dropped("peer went away: \(goAway.code): \(goAway.reason)"))
        case .request:
            unansweredRequests += 1
            if unansweredRequests > settings.maxUnansweredRequestsPerPeer, !pausedForAnswers {
                pausedForAnswers = true
                tcp.pauseReading()
            }
            onFrame?(frame)
        case .response, .oneway:
            onFrame?(frame)
        }
    }

    private func perform(_ action: PeerHandshake.Action) {
        switch action {
        case .none:
            break
        case .send(let frame):
            send(frame)
        case let .established(peerNodeId, _, frame):
            if let frame { send(frame) }
            decoder.maxPayloadBytes = PeerFrameLimits.maxPayloadBytes
            state = .established(peerID: peerNodeId)
            if let handshakeTimer { loop?.cancel(handshakeTimer) }
            handshakeTimer = nil
            lastHeardMs = loop?.monotonicMs ?? 0
            scheduleLivenessTick()
            onEstablished?(peerNodeId)
        case let .refused(refusal, frame):
            close(sending: frame, end: .refused(refusal.description, kind: Self.refusalKind(refusal)))
        case .deliver(let frame):
            receiveEstablished(frame)
        }
    }

    /// A handful of kinds, so one noisy reason (idle connections timing out) cannot hide
    /// another (a misconfigured peer failing authentication) in the rate-limited log.
    static func refusalKind(_ refusal: PeerHandshake.Refusal) -> String {
        switch refusal {
        case .unsupportedVersion: "version"
        case .wrongCluster: "cluster"
        case .authenticationFailed: "authentication"
        case .peerClaimsLocalNodeId, .unexpectedPeer, .reflectedNonce: "identity"
        case .unexpectedFrame, .malformed: "protocol"
        case .peerWentAway: "went away"
        case .timedOut: "timeout"
        }
    }

    // MARK: Backpressure

    /// Resumes in a later timer phase, not inside `answer` (the caller's stack): the frames
    /// waiting in the decoder then reach `onFrame` without re-entering the caller.
    private func scheduleResume() {
        guard !resumeScheduled, let loop else { return }
        resumeScheduled = true
        loop.schedule(afterMs: 0) { [weak self] in
            guard let self else { return }
            self.resumeScheduled = false
            self.updateReading()
        }
    }

    private func updateReading() {
        guard !isClosed else { return }
        if pausedForAnswers || pausedForWrites {
            tcp.pauseReading()
        } else {
            drain()
            if !pausedForAnswers && !isClosed { tcp.resumeReading() }
        }
    }

    private func writesDrained() {
        guard pausedForWrites else { return }
        pausedForWrites = false
        updateReading()
    }

    // MARK: Writing

    private func flush() {
        guard !batch.isEmpty else { return }
        let frames = batch.frameCount
        tcp.write(batch.take())
        onFlush?(frames)
        if isResponder, !pausedForWrites, tcp.pendingWriteBytes > settings.maxQueuedBytesPerPeer {
            pausedForWrites = true
            tcp.pauseReading()
        }
    }

    // MARK: Timers and teardown

    private func handshakeTimedOut() {
        handshakeTimer = nil
        guard case .handshaking(var handshake) = state else { return }
        let action = handshake.timedOut()
        state = .handshaking(handshake)
        perform(action)
    }

    /// Every `pingIntervalMs`: ping if nothing went out since the last tick; close if nothing
    /// came in for `deadConnectionTimeoutMs`. A connection we paused ourselves is not silent.
    private func scheduleLivenessTick() {
        livenessTimer = loop?.schedule(afterMs: settings.pingIntervalMs) { [weak self] in self?.livenessTick() }
    }

    private func livenessTick() {
        livenessTimer = nil
        guard case .established = state, let loop else { return }
        let now = loop.monotonicMs
        if pausedForAnswers || pausedForWrites { lastHeardMs = now }
        if now - lastHeardMs >= settings.deadConnectionTimeoutMs {
            onDead?()
            close(goAway: PeerGoAway(code: .normal, reason: "nothing heard for \(now - lastHeardMs) ms"),
                  end: .dropped("nothing heard from the peer for \(now - lastHeardMs) ms"))
            return
        }
        if !sentSinceTick {
            send(.ping(id: nextPingID))
            nextPingID &+= 1
        }
        sentSinceTick = false
        scheduleLivenessTick()
    }

    private func socketClosed(_ reason: String) {
        guard !isClosed else { return }
        finish(.dropped(reason))
    }

    private func close(sending frame: PeerFrame?, end: End) {
        guard !isClosed else { return }
        if let frame { _ = try? batch.append(frame) }
        flush()
        tcp.close()
        finish(end)
    }

    /// Marks the connection closed, stops its timers, drops every callback (breaking the cycles
    /// through closures) and reports `end` once.
    private func finish(_ end: End) {
        state = .closed
        if let handshakeTimer { loop?.cancel(handshakeTimer) }
        if let livenessTimer { loop?.cancel(livenessTimer) }
        handshakeTimer = nil
        livenessTimer = nil
        tcp.onRead = nil
        tcp.onDrain = nil
        tcp.onClose = nil
        let onClosed = self.onClosed
        self.onClosed = nil
        onFrame = nil
        onEstablished = nil
        onDirty = nil
        onDead = nil
        onClosed?(end)
    }
}

/// `text` as UTF-8, cut at a character boundary to at most `maxBytes`.
func truncatedUTF8(_ text: String, maxBytes: Int) -> [UInt8] {
    var bytes: [UInt8] = []
    for character in text {
        let utf8 = Array(character.utf8)
        if bytes.count + utf8.count > maxBytes { break }
        bytes += utf8
    }
    return bytes
}
