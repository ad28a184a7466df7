import Net
import Wire

/// This node's outbound side toward one peer: the connection it dials and sends its requests
/// and oneways on, the queue of what waits for that connection, the requests awaiting answers,
/// and the reconnect backoff. Loop thread only.
///
/// The peer's own requests come in on the connection the peer dialed (`PeerTransport`
/// accepts it); so each direction has its own connection and no duplicate needs resolving.
final class PeerLink {
    private enum State {
        /// No connection. A send dials, at once if `retryAtMs` has passed, else then.
        case idle(retryAtMs: Int64)
        case waitingToDial(TimerID)
        /// TCP connect in progress; `attempt` tells this dial's callback from a stale one.
        case dialing(attempt: UInt64)
        case handshaking(PeerConnection)
        case established(PeerConnection)
        case removed
    }

    let id: String
    private(set) var address: String
    private var state: State = .idle(retryAtMs: 0)
    private var queue: OutboundQueue
    private var inFlight: RequestTracker<PendingReply>
    private var backoff: Backoff
    private var failedDials = 0
    private var dialAttempt: UInt64 = 0
    private var deadlineTimer: (id: TimerID, atNanos: UInt64)?
    private let loop: EventLoop
    private let settings: PeerSettings
    private weak var transport: PeerTransport?

    init(id: String, address: String, loop: EventLoop, settings: PeerSettings, transport: PeerTransport) {
        self.id = id
        self.address = address
        self.loop = loop
        self.settings = settings
        self.transport = transport
        queue = OutboundQueue(maxMessages: settings.maxQueuedMessagesPerPeer)
        inFlight = RequestTracker(maxInFlight: settings.maxInFlightRequestsPerPeer)
        backoff = Backoff(minDelayNanos: UInt64(max(0, settings.backoffMinMs)) * 1_000_000,
                          maxDelayNanos: UInt64(max(0, settings.backoffMaxMs)) * 1_000_000)
    }

    var isEstablished: Bool {
        if case .established = state { return true }
        return false
    }

    private var connection: PeerConnection? {
        switch state {
        case .handshaking(let connection), .established(let connection): return connection
        case .idle, .waitingToDial, .dialing, .removed: return nil
        }
    }

    /// What this peer holds on this node: queued messages plus the connection's unsent bytes.
    private var queuedBytes: Int { queue.byteCount + (connection?.queuedBytes ?? 0) }

    private var nowNanos: UInt64 { UInt64(max(0, loop.monotonicMs)) * 1_000_000 }

    // MARK: Sending

    func request(operation: UInt16, payload: [UInt8], timeoutMs: Int64, reply: @escaping PeerReply) {
        let deadline = nowNanos + UInt64(max(0, timeoutMs)) * 1_000_000
        submit(OutboundMessage(operation: operation, payload: payload, reply: reply), deadlineNanos: deadline)
    }

    func send(operation: UInt16, payload: [UInt8]) {
        submit(OutboundMessage(operation: operation, payload: payload, reply: nil),
               deadlineNanos: OutboundQueue.noDeadlineNanos)
    }

    /// Writes at once when connected, nothing waits ahead and a request slot is free;
    /// otherwise queues (in order) and makes sure a dial is under way. Over the bounds the
    /// message is refused: requests fail with `.overloaded`, oneways are dropped.
    private func submit(_ message: OutboundMessage, deadlineNanos: UInt64) {
        if case .removed = state { return reject(message, .closed) }
        guard queuedBytes + message.byteCount <= settings.maxQueuedBytesPerPeer else {
            return reject(message, .overloaded)
        }
        if case .established(let connection) = state, queue.isEmpty, message.reply == nil || !inFlight.isFull {
            write(message, deadlineNanos: deadlineNanos, on: connection)
        } else {
            guard queue.append(message, deadlineNanos: deadlineNanos) else { return reject(message, .overloaded) }
            dialIfIdle()
        }
        if message.reply != nil { armDeadlineTimer() }
    }

    private func write(_ message: OutboundMessage, deadlineNanos: UInt64, on connection: PeerConnection) {
        guard let reply = message.reply else {
            connection.send(.oneway(operation: message.operation, payload: message.payload))
            return
        }
        do {
            let requestID = try inFlight.begin(deadlineNanos: deadlineNanos, context: PendingReply(reply: reply))
            connection.send(.request(id: requestID, operation: message.operation, payload: message.payload))
        } catch {
            reject(message, .overloaded)  // callers check `isFull` first; kept as a value, not a trap
        }
    }

    /// Moves queued messages to the connection while request slots are free.
    private func pump() {
        guard case .established(let connection) = state else { return }
        while let next = queue.front() {
            if next.reply != nil, inFlight.isFull { return }
            guard let (message, deadline) = queue.popFront() else { return }
            write(message, deadlineNanos: deadline, on: connection)
        }
    }

    private func reject(_ message: OutboundMessage, _ error: PeerError) {
        transport?.reject(message, error)
    }

    /// A response frame that came in on `connection`; one for another connection, or for no
    /// pending request (late, duplicate, invented), is dropped.
    func receiveResponse(_ frame: PeerFrame, on connection: PeerConnection) {
        guard case .established(let current) = state, current === connection,
              let pending = inFlight.complete(frame.correlationId) else { return }
        pump()
        if frame.flags.contains(.errorResponse) {
            let message = String(validating: frame.payload, as: UTF8.self) ?? "(error message not UTF-8)"
            pending.context.reply(.failure(.remote(message)))
        } else {
            pending.context.reply(.success(frame.payload))
        }
    }

    // MARK: Connecting

    private func dialIfIdle() {
        guard case .idle(let retryAtMs) = state else { return }
        let waitMs = retryAtMs - loop.monotonicMs
        guard waitMs > 0 else { return dial() }
        state = .waitingToDial(loop.schedule(afterMs: waitMs) { [weak self] in self?.dial() })
    }

    private func dial() {
        guard let target = PeerAddress(address) else {
            return dialFailed("bad peer address '\(address)'", refused: true)
        }
        dialAttempt += 1
        let attempt = dialAttempt
        state = .dialing(attempt: attempt)
        loop.connectTCP(host: target.host, port: target.port, timeoutMs: settings.connectTimeoutMs) { [weak self] result in
            self?.dialed(result, attempt: attempt)
        }
    }

    private func dialed(_ result: Result<TCPConnection, NetError>, attempt: UInt64) {
        guard case .dialing(let current) = state, current == attempt else {
            if case .success(let tcp) = result { tcp.abort() }  // removed or re-addressed meanwhile
            return
        }
        switch result {
        case .failure(let error):
            dialFailed("\(error)", refused: false)
        case .success(let tcp):
            guard let connection = transport?.makeConnection(tcp, dialing: id) else {
                tcp.abort()
                return dialFailed("cannot start the handshake", refused: true)
            }
            state = .handshaking(connection)
            connection.onEstablished = { [weak self, unowned connection] _ in self?.established(connection) }
            connection.onClosed = { [weak self, unowned connection] end in self?.closed(connection, end) }
            connection.start()
        }
    }

    private func established(_ connection: PeerConnection) {
        guard case .handshaking(let current) = state, current === connection else { return }
        state = .established(connection)
        backoff.reset()
        failedDials = 0
        transport?.peerUp(id)
        pump()
        armDeadlineTimer()
    }

    private func closed(_ connection: PeerConnection, _ end: PeerConnection.End) {
        switch state {
        case .handshaking(let current) where current === connection:
            if case .refused(let reason, let kind) = end {
                transport?.refused("dialing \(id) at \(address): \(reason)", kind: "dial \(id) \(kind)")
                dialFailed(reason, refused: true)
            } else if case .dropped(let reason) = end {
                dialFailed(reason, refused: false)
            }
        case .established(let current) where current === connection:
            // Redial at once if anything waits: the connection worked, so no backoff yet.
            state = .idle(retryAtMs: loop.monotonicMs)
            failInFlight(.closed)
            transport?.peerDown(id)
            if !queue.isEmpty { dialIfIdle() }
        default:
            break
        }
    }

    /// After a failed dial or handshake: back off; fail what waits once the peer is deemed
    /// unreachable (a refusal at once, else after `dialAttemptsBeforeUnreachable` dials).
    private func dialFailed(_ reason: String, refused: Bool) {
        failedDials += 1
        let delayNanos = backoff.nextDelayNanos(jitter: transport?.jitter() ?? 0.5)
        state = .idle(retryAtMs: loop.monotonicMs + Int64(delayNanos / 1_000_000))
        if refused || failedDials >= settings.dialAttemptsBeforeUnreachable {
            for message in queue.removeAll() { reject(message, .unreachable) }
        }
        armDeadlineTimer()
        if !queue.isEmpty { dialIfIdle() }
    }

    // MARK: Teardown

    /// The peer's address changed: drop the connection (its requests fail `.closed`), keep
    /// what is queued, and dial the new address.
    func readdress(_ newAddress: String) {
        guard newAddress != address else { return }
        address = newAddress
        backoff.reset()
        failedDials = 0
        disconnect(reason: "peer address changed")
        state = .idle(retryAtMs: 0)
        if !queue.isEmpty { dialIfIdle() }
    }

    /// The peer was removed or the transport closes: everything pending fails `.closed`.
    func remove(reason: String) {
        disconnect(reason: reason)
        state = .removed
        if let deadlineTimer { loop.cancel(deadlineTimer.id) }
        deadlineTimer = nil
        for message in queue.removeAll() { reject(message, .closed) }
    }

    private func disconnect(reason: String) {
        let previous = state
        state = .removed  // the connection's onClosed, called from close(), finds nothing to do
        switch previous {
        case .waitingToDial(let timer):
            loop.cancel(timer)
        case .handshaking(let connection):
            connection.close(goAway: PeerGoAway(code: .normal, reason: reason), end: .dropped(reason))
        case .established(let connection):
            connection.close(goAway: PeerGoAway(code: .normal, reason: reason), end: .dropped(reason))
            failInFlight(.closed)
            transport?.peerDown(id)
        case .idle, .dialing, .removed:
            break
        }
    }

    private func failInFlight(_ error: PeerError) {
        let lost = inFlight.failAll()
        for pending in lost { transport?.failSoon(pending.context.reply, error) }
    }

    // MARK: Deadlines

    /// One timer per link, at the earliest deadline of a written or queued request.
    private func armDeadlineTimer() {
        let candidates = [inFlight.nextDeadlineNanos(), queue.nextDeadlineNanos()].compactMap { $0 }
        guard let next = candidates.min() else {
            if let deadlineTimer { loop.cancel(deadlineTimer.id) }
            deadlineTimer = nil
            return
        }
        if let deadlineTimer {
            if deadlineTimer.atNanos <= next { return }  // fires first, then re-arms
            loop.cancel(deadlineTimer.id)
        }
        let now = nowNanos
        let waitMs = next > now ? Int64((next - now + 999_999) / 1_000_000) : 0
        deadlineTimer = (loop.schedule(afterMs: waitMs) { [weak self] in self?.deadlinePassed() }, next)
    }

    private func deadlinePassed() {
        deadlineTimer = nil
        let now = nowNanos
        let expiredInFlight = inFlight.expire(nowNanos: now).map(\.context.reply)
        let expiredQueued = queue.expire(nowNanos: now).compactMap(\.reply)
        pump()
        armDeadlineTimer()
        for reply in expiredInFlight + expiredQueued { reply(.failure(.timedOut)) }
    }
}
