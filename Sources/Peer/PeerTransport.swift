import Net
import Wire

/// Node-to-node messaging over the Relay peer protocol (docs/WIRE.md): authenticated TCP
/// connections, requests with correlated responses, oneways, batching, backpressure,
/// reconnects and liveness. Loop thread only: create it, call it and get its callbacks on the
/// thread that runs `loop`.
///
/// Connections: each node sends its own requests and oneways on the connection it dialed to
/// the peer (`PeerLink`), and answers requests on whichever connection they arrived on. Two
/// nodes that dial each other at once so simply hold two connections, one per direction: no
/// duplicate to resolve. `onPeerUp` / `onPeerDown` / `connectedPeers()` are about this node's
/// outbound connections, the ones its sends depend on.
public final class PeerTransport {
    /// Frames batched after this transport's turn-end hook already ran (by a hook registered
    /// later, such as a group commit answering requests) go out within this many ms instead of
    /// waiting for the next event: a fallback timer, cancelled whenever the hook flushes.
    static let lateFrameFlushMs: Int64 = 1

    public let settings: PeerSettings

    /// Incoming requests: call `respond` exactly once, on the loop thread, now or later.
    public var onRequest: ((_ from: String, _ operation: UInt16, _ payload: [UInt8],
                            _ respond: @escaping (Result<[UInt8], PeerHandlerError>) -> Void) -> Void)?
    public var onMessage: ((_ from: String, _ operation: UInt16, _ payload: [UInt8]) -> Void)?
    /// This node's connection to the peer became established / was lost.
    public var onPeerUp: ((String) -> Void)?
    public var onPeerDown: ((String) -> Void)?
    /// A handshake was refused, by this node or by the peer, in either direction: the reason
    /// (wrong secret, wrong cluster, version, timeout, bad frames). Called for every refusal.
    public var onRefused: ((String) -> Void)?
    /// The operator's log of refusals, accept-rate refusals and evictions: at most one line per
    /// kind per `refusalLogIntervalMs`, with counts of the lines held back (`RateLimitedLog`),
    /// so a storm of idle connections cannot flood the log.
    public var onRefusedLog: ((String) -> Void)?
    public private(set) var stats = PeerTransportStats()

    private let loop: EventLoop
    private let random: (Int) -> [UInt8]
    private var listener: TCPListener?
    private var links: [String: PeerLink] = [:]
    private var inbound: [ObjectIdentifier: PeerConnection] = [:]
    /// Bounds on accepted connections that have not authenticated yet.
    private var acceptGate: AcceptGate<ObjectIdentifier>
    /// IPs of known peers' addresses: exempt from the accept rate (`AcceptGate`).
    private var peerIPs: Set<String> = []
    private var refusalLog: RateLimitedLog
    private var refusalLogTimer: TimerID?
    /// Connections with frames batched this turn, flushed by the turn-end hook.
    private var dirty: [PeerConnection] = []
    private var lateFlushTimer: TimerID?
    private var failures: [(PeerReply, PeerError)] = []
    private var failureTimerArmed = false
    private var isClosed = false

    /// `random` gives nonces (32 bytes) and backoff jitter; the node passes getrandom.
    public init(loop: EventLoop, settings: PeerSettings, random: @escaping (Int) -> [UInt8]) {
        self.loop = loop
        self.settings = settings
        self.random = random
        acceptGate = AcceptGate(settings: settings.acceptGateSettings)
        refusalLog = RateLimitedLog(intervalMs: settings.refusalLogIntervalMs, maxKinds: settings.maxRefusalLogKinds)
        loop.addTurnEndHook { [weak self] in self?.flushDirty() }
    }

    /// The bound port once listening (the kernel's pick when 0 was asked).
    public var listeningPort: Int? { listener?.port }

    public func listen(host: String, port: Int) throws(NetError) {
        listener?.close()
        listener = try loop.listenTCP(host: host, port: port) { [weak self] tcp in self?.accept(tcp) }
    }

    /// Known peers: id -> "host:port" of their peer port. Connections are made lazily on first
    /// send and kept; a changed address drops the old connection (its requests fail `.closed`).
    public func setPeer(_ id: String, address: String) {
        guard !isClosed else { return }
        if let link = links[id] {
            link.readdress(address)
        } else {
            links[id] = PeerLink(id: id, address: address, loop: loop, settings: settings, transport: self)
        }
        updatePeerIPs()
    }

    /// Closes the peer's connection; its pending and queued requests fail with `.closed`.
    public func removePeer(_ id: String) {
        guard let link = links.removeValue(forKey: id) else { return }
        link.remove(reason: "peer removed")
        updatePeerIPs()
    }

    /// A request; `reply` is called exactly once, never from inside this call: the response
    /// payload, or an error (see `PeerError`).
    public func request(_ peer: String, operation: UInt16, payload: [UInt8], timeoutMs: Int64? = nil,
                        reply: @escaping (Result<[UInt8], PeerError>) -> Void) {
        let message = OutboundMessage(operation: operation, payload: payload, reply: reply)
        if isClosed { return self.reject(message, .closed) }
        guard payload.count <= PeerFrameLimits.maxPayloadBytes else {
            return self.reject(message, .payloadTooLarge(bytes: payload.count))
        }
        guard let link = links[peer] else { return self.reject(message, .unknownPeer) }
        link.request(operation: operation, payload: payload, timeoutMs: timeoutMs ?? settings.requestTimeoutMs,
                     reply: reply)
    }

    /// Fire-and-forget, ordered per peer (best effort: lost if the connection drops; dropped
    /// and counted in `stats.droppedMessages` when over the bounds or the peer is unreachable).
    public func send(_ peer: String, operation: UInt16, payload: [UInt8]) {
        guard !isClosed, payload.count <= PeerFrameLimits.maxPayloadBytes, let link = links[peer] else {
            stats.droppedMessages += 1
            return
        }
        link.send(operation: operation, payload: payload)
    }

    /// Accepted connections still handshaking (at most `maxHandshakingConnections`).
    public var handshakingConnections: Int { acceptGate.handshakingCount }

    /// Peers this node has an established connection to, sorted.
    public func connectedPeers() -> [String] {
        links.values.filter(\.isEstablished).map(\.id).sorted()
    }

    /// Stops listening, says goaway on every connection and closes it; everything pending
    /// fails with `.closed`. The transport is unusable afterwards.
    public func close() {
        guard !isClosed else { return }
        isClosed = true
        listener?.close()
        listener = nil
        if let refusalLogTimer { loop.cancel(refusalLogTimer) }
        refusalLogTimer = nil
        for id in links.keys.sorted() { links[id]?.remove(reason: "node shutting down") }
        links.removeAll()
        let accepted = inbound.values
        inbound.removeAll()
        for connection in accepted {
            connection.close(goAway: PeerGoAway(code: .normal, reason: "node shutting down"),
                             end: .dropped("node shutting down"))
        }
    }

    // MARK: For links and connections

    func makeConnection(_ tcp: TCPConnection, dialing peerID: String?) -> PeerConnection? {
        let nonce = random(PeerHandshakeLimits.nonceBytes)
        let handshake: PeerHandshake
        do {
            if let peerID {
                handshake = try PeerHandshake(initiating: settings.handshakeConfiguration, nonce: nonce,
                                              expectedPeerNodeId: peerID)
            } else {
                handshake = try PeerHandshake(responding: settings.handshakeConfiguration, nonce: nonce)
            }
        } catch {
            refused("cannot start a handshake with \(tcp.remoteAddress): \(error)", kind: "local")
            return nil
        }
        let connection = PeerConnection(tcp: tcp, loop: loop, handshake: handshake, isResponder: peerID == nil,
                                        settings: settings)
        connection.onDirty = { [weak self] in self?.markDirty($0) }
        connection.onFlush = { [weak self] frames in
            self?.stats.flushes += 1
            self?.stats.framesSent += frames
        }
        connection.onDead = { [weak self] in self?.stats.deadConnectionsClosed += 1 }
        connection.onFrame = { [weak self, unowned connection] frame in self?.receive(frame, on: connection) }
        return connection
    }

    func peerUp(_ id: String) { onPeerUp?(id) }
    func peerDown(_ id: String) { onPeerDown?(id) }

    func refused(_ reason: String, kind: String) {
        stats.refusedHandshakes += 1
        onRefused?(reason)
        logRefusal(kind: kind, reason)
    }

    /// One line to the rate-limited refusal log, and the timer that reports what it held back.
    private func logRefusal(kind: String, _ line: String) {
        let now = loop.monotonicMs
        if let written = refusalLog.admit(kind: kind, line, nowMs: now) {
            onRefusedLog?(written)
        }
        stats.refusalLogLinesSuppressed = refusalLog.suppressedTotal
        armRefusalLogTimer()
    }

    private func armRefusalLogTimer() {
        guard refusalLogTimer == nil, !isClosed, let due = refusalLog.nextFlushMs else { return }
        refusalLogTimer = loop.schedule(afterMs: max(due - loop.monotonicMs, 0)) { [weak self] in
            guard let self else { return }
            refusalLogTimer = nil
            for line in refusalLog.flush(nowMs: loop.monotonicMs) { onRefusedLog?(line) }
            armRefusalLogTimer()
        }
    }

    /// A uniform draw from [0, 1) for backoff jitter, from the top 53 bits of `random(8)`.
    func jitter() -> Double {
        let bytes = random(8)
        guard bytes.count == 8 else { return 0.5 }
        let value = bytes.reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
        return Double(value >> 11) / Double(UInt64(1) << 53)
    }

    /// A message that will not be sent: a request fails (soon, see `failSoon`), a oneway is
    /// counted as dropped.
    func reject(_ message: OutboundMessage, _ error: PeerError) {
        guard let reply = message.reply else {
            stats.droppedMessages += 1
            return
        }
        if error == .overloaded { stats.overloadedRequests += 1 }
        failSoon(reply, error)
    }

    /// Reports a failure from a timer in a later loop phase, never from inside the caller's
    /// own `request`/`removePeer`/`close`, so a caller that retries from its reply does not
    /// re-enter itself.
    func failSoon(_ reply: @escaping PeerReply, _ error: PeerError) {
        failures.append((reply, error))
        guard !failureTimerArmed else { return }
        failureTimerArmed = true
        loop.schedule(afterMs: 0) { [self] in
            failureTimerArmed = false
            let due = failures
            failures.removeAll()
            for (reply, error) in due { reply(.failure(error)) }
        }
    }

    // MARK: Private

    /// Admits an accepted connection within the bounds on unauthenticated ones (`AcceptGate`,
    /// `maxInboundConnections`); refusals here never reach `onRefused` (no handshake began),
    /// only the counters and the rate-limited log.
    private func accept(_ tcp: TCPConnection) {
        guard !isClosed else { return tcp.abort() }
        let ip = Self.ip(of: tcp.remoteAddress)
        guard inbound.count < settings.maxInboundConnections else {
            stats.acceptsOverLimit += 1
            logRefusal(kind: "inbound limit", "accepted from \(tcp.remoteAddress): closed, \(inbound.count) inbound connections open")
            return tcp.abort()
        }
        guard acceptGate.admitRate(address: ip, exempt: peerIPs.contains(ip), nowMs: loop.monotonicMs) else {
            stats.acceptsRateLimited += 1
            logRefusal(kind: "accept rate", "accepted from \(tcp.remoteAddress): closed, over \(settings.acceptRatePerSecond) connections/s from \(ip)")
            return tcp.abort()
        }
        guard let connection = makeConnection(tcp, dialing: nil) else { return tcp.abort() }
        let key = ObjectIdentifier(connection)
        if let evicting = acceptGate.handshakeStarted(key, address: ip), let victim = inbound[evicting] {
            stats.handshakesEvicted += 1
            logRefusal(kind: "evicted", "accepted from \(victim.remoteAddress): closed unauthenticated, \(settings.maxHandshakingConnections) connections were handshaking")
            // No goaway: a real peer's dialer then retries with backoff, where a goaway during
            // the handshake would count as a refusal and fail its waiting requests at once.
            victim.close(goAway: nil, end: .dropped("evicted while handshaking"))
        }
        inbound[key] = connection
        connection.onEstablished = { [weak self] _ in self?.acceptGate.handshakeEnded(key) }
        connection.onClosed = { [weak self, unowned connection] end in
            guard let self else { return }
            self.inbound.removeValue(forKey: key)
            self.acceptGate.handshakeEnded(key)
            if case .refused(let reason, let kind) = end {
                self.refused("accepted from \(connection.remoteAddress): \(reason)", kind: "inbound \(kind)")
            }
        }
        connection.start()
    }

    /// The IP of "ip:port" or "[ipv6]:port" (Net's `SocketAddress` text), or the text itself.
    static func ip(of address: String) -> String {
        if address.hasPrefix("["), let close = address.lastIndex(of: "]") {
            return String(address[address.index(after: address.startIndex)..<close])
        }
        if let colon = address.lastIndex(of: ":"), address.firstIndex(of: ":") == colon {
            return String(address[..<colon])
        }
        return address
    }

    private func updatePeerIPs() {
        peerIPs = Set(links.values.map { link in
            let ip = Self.ip(of: link.address)
            return ip == "localhost" ? "127.0.0.1" : ip  // as SocketAddress reads it
        })
    }

    /// An established connection's request, response or oneway.
    private func receive(_ frame: PeerFrame, on connection: PeerConnection) {
        guard let from = connection.peerID else { return }
        switch frame.kind {
        case .request:
            deliverRequest(frame, from: from, on: connection)
        case .response:
            links[from]?.receiveResponse(frame, on: connection)
        case .oneway:
            onMessage?(from, frame.operation, frame.payload)
        case .hello, .challenge, .proof, .welcome, .ping, .pong, .goaway:
            break  // handled by the connection
        }
    }

    private func deliverRequest(_ frame: PeerFrame, from: String, on connection: PeerConnection) {
        var answered = false
        let requestID = frame.correlationId
        let operation = frame.operation
        let respond: (Result<[UInt8], PeerHandlerError>) -> Void = { [weak connection] result in
            guard !answered else { return }  // exactly once: later answers are ignored
            answered = true
            connection?.answer(requestID: requestID, operation: operation, result: result)
        }
        guard let onRequest else {
            respond(.failure("no handler for peer requests on \(settings.nodeID)"))
            return
        }
        onRequest(from, operation, frame.payload, respond)
    }

    private func markDirty(_ connection: PeerConnection) {
        dirty.append(connection)
        guard lateFlushTimer == nil else { return }
        lateFlushTimer = loop.schedule(afterMs: Self.lateFrameFlushMs) { [weak self] in
            self?.lateFlushTimer = nil
            self?.flushDirty()
        }
    }

    private func flushDirty() {
        if let lateFlushTimer { loop.cancel(lateFlushTimer) }
        lateFlushTimer = nil
        guard !dirty.isEmpty else { return }
        let due = dirty
        dirty.removeAll(keepingCapacity: true)
        for connection in due { connection.flushAtTurnEnd() }
    }
}
