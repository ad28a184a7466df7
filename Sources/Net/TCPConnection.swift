import CSystem
import Glibc

/// One TCP connection, accepted by a `TCPListener` or made by `EventLoop.connectTCP`.
/// Loop thread only. While open it is owned by its loop (see `EventLoop`); once closed it has
/// released its fd and its callbacks, so a caller that drops it frees it.
public final class TCPConnection: LoopHandler {
    /// Bytes read from one connection per loop turn before other sockets get their turn.
    /// Four read buffers: big enough that a bulk transfer costs few turns, small enough that
    /// one fast sender delays the others by well under a millisecond of copying.
    public static let maxReadBytesPerTurn = 4 * EventLoop.readBufferBytes
    /// How long `close()` keeps flushing queued bytes to a slow peer before giving up: long
    /// enough for a goodbye frame over a congested link, short enough that a stalled peer
    /// cannot hold an fd for long. Per connection in `closeFlushTimeoutMs`.
    public static let defaultCloseFlushTimeoutMs: Int64 = 5_000
    /// Default bound on a non-blocking connect; the kernel's own SYN retries take minutes.
    public static let defaultConnectTimeoutMs: Int64 = 10_000

    enum State {
        /// Non-blocking connect in progress: the caller's callback and the timeout timer.
        case connecting(onConnected: (Result<TCPConnection, NetError>) -> Void, timeout: TimerID)
        case open
        /// `close()` was called: flushing the queue, discarding input, until the deadline.
        case closing(deadline: TimerID)
        case closed
    }

    public let remoteAddress: String
    /// Bytes just read; valid only during the call. Not called once the connection is closing.
    public var onRead: ((UnsafeRawBufferPointer) -> Void)?
    /// Called exactly once, later in the same loop turn the connection closed (never from
    /// inside the caller's own `write`/`close`/`abort`): nil for an orderly close (ours or
    /// the peer's EOF), the error otherwise.
    public var onClose: ((NetError?) -> Void)?
    /// The write queue just became empty (it had been non-empty): resume producing.
    public var onDrain: (() -> Void)?
    /// Bound on the flush `close()` performs; then the connection is dropped with ETIMEDOUT.
    public var closeFlushTimeoutMs = TCPConnection.defaultCloseFlushTimeoutMs

    private weak var loop: EventLoop?
    private var fd: Int32
    private var token: UInt64 = 0
    private var state: State
    private var readingPaused = false
    private var peerSentEOF = false
    private var queue = WriteQueue()
    private var registeredEvents: UInt32 = 0

    init(loop: EventLoop, fd: Int32, remoteAddress: String, state: State) {
        self.loop = loop
        self.fd = fd
        self.remoteAddress = remoteAddress
        self.state = state
    }

    deinit {
        // Reached with an open fd only if the loop itself was released first.
        if fd >= 0 { Glibc.close(fd) }
    }

    /// Registers with the loop; on failure the caller still owns (and closes) the fd.
    func register() throws(NetError) {
        guard let loop else { throw NetError(errno: EBADF, operation: "register: event loop is gone") }
        let events = wantedEvents()
        token = try loop.register(fd: fd, events: events, handler: self)
        registeredEvents = events
    }

    // MARK: Public API

    /// Bytes queued but not yet accepted by the kernel. The caller bounds it: a client whose
    /// queue keeps growing is too slow and should be dropped.
    public var pendingWriteBytes: Int { queue.byteCount }

    /// True until `close`, `abort`, the peer's close or an error.
    public var isOpen: Bool {
        if case .open = state { return true }
        return false
    }

    /// Writes now if nothing is queued, and queues whatever the kernel did not take (EPOLLOUT
    /// is watched only while the queue is non-empty). Ignored unless open.
    public func write(_ bytes: [UInt8]) {
        guard case .open = state, !bytes.isEmpty else { return }
        if corked {
            queue.append(bytes)
            unflushedBytes += bytes.count
            if !corkPending {
                corkPending = true
                onCorkedWrite?()
            }
            return
        }
        guard queue.isEmpty else {
            queue.append(bytes)
            return
        }
        var written = bytes.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, SocketCalls.noSignal) }
        if written < 0 {
            let code = Glibc.errno
            guard SocketCalls.isWouldBlock(code) || code == EINTR else {
                finish(NetError(errno: code, operation: "send to \(remoteAddress)"))
                return
            }
            written = 0
        }
        guard written < bytes.count else { return }
        queue.append(bytes, skipping: written)
        updateInterest()
    }

    /// Corked: writes only queue, and `flush` sends them, so everything one loop turn writes
    /// to this connection leaves in one `sendmsg` (the client server flushes its connections at
    /// each turn's end: a fan-out of many events costs one system call per connection).
    public var corked = false
    /// Called on the first write queued while corked since the last `flush`.
    public var onCorkedWrite: (() -> Void)?
    private var corkPending = false
    /// Bytes written (corked) since the last `flush`: not offered to the kernel yet.
    public private(set) var unflushedBytes = 0

    /// Sends what corked writes queued, as far as the socket takes it now (the rest when it
    /// is writable).
    /// Called at a turn's end: a drained queue's `onDrain` (which lets the owner read and
    /// write more) runs early in the next turn, not inside the turn-end hooks.
    public func flush() {
        corkPending = false
        unflushedBytes = 0
        guard !queue.isEmpty else { return }
        switch state {
        case .open, .closing: flushQueue(notifyDrain: false)   // closing: a drained queue finishes the close
        case .connecting, .closed: return
        }
        if case .open = state {
            if queue.isEmpty {
                loop?.deferOnLoop { [weak self] in
                    guard let self, case .open = state, queue.isEmpty else { return }
                    onDrain?()
                }
            } else {
                updateInterest()
            }
        }
    }

    /// Stops reading (and so, through TCP flow control, the peer's sending).
    public func pauseReading() {
        readingPaused = true
        updateInterest()
    }

    public func resumeReading() {
        readingPaused = false
        updateInterest()
    }

    /// Flushes what is queued (for at most `closeFlushTimeoutMs`), then closes. Input arriving
    /// meanwhile is discarded, so unread bytes do not turn our FIN into a reset.
    public func close() {
        guard case .open = state else { return }
        guard !queue.isEmpty, let loop else {
            finish(nil)
            return
        }
        let deadline = loop.schedule(afterMs: closeFlushTimeoutMs) { [weak self] in
            self?.finish(NetError(errno: ETIMEDOUT, operation: "flush before close"))
        }
        state = .closing(deadline: deadline)
        updateInterest()
    }

    /// Closes now and drops the queue.
    public func abort() {
        finish(nil)
    }

    // MARK: Events

    func handle(events: UInt32) {
        switch state {
        case .closed:
            return
        case .connecting(let onConnected, let timeout):
            completeConnect(onConnected, timeout)
            return
        case .open, .closing:
            break
        }
        if events & EpollBits.error != 0 {
            finish(NetError(errno: SocketCalls.pendingError(fd), operation: "socket error from \(remoteAddress)"))
            return
        }
        if events & EpollBits.writable != 0 {
            flushQueue()
        }
        if events & EpollBits.hangUp != 0, events & EpollBits.readable == 0 {
            // Both directions are gone (reset) while we were not reading: nothing to wait for.
            finish(NetError(errno: ECONNRESET, operation: "hang-up from \(remoteAddress)"))
            return
        }
        if events & EpollBits.readable != 0 {
            readAvailable()
        }
    }

    private func readAvailable() {
        let buffer = loop?.readBuffer ?? UnsafeMutableRawBufferPointer(start: nil, count: 0)
        var budget = Self.maxReadBytesPerTurn
        while budget > 0, wantsToRead, let base = buffer.baseAddress {
            let count = Glibc.read(fd, base, min(buffer.count, budget))
            if count > 0 {
                budget -= count
                // A closing connection reads only to discard.
                if case .open = state { onRead?(UnsafeRawBufferPointer(start: base, count: count)) }
            } else if count == 0 {
                peerSentEOF = true
                if case .open = state { close() } else { updateInterest() }
                return
            } else {
                let code = Glibc.errno
                if code == EINTR { continue }
                if !SocketCalls.isWouldBlock(code) {
                    finish(NetError(errno: code, operation: "read from \(remoteAddress)"))
                }
                return
            }
        }
    }

    private func flushQueue(notifyDrain: Bool = true) {
        switch queue.flush(to: fd) {
        case .wouldBlock:
            return
        case .failed(let code):
            finish(NetError(errno: code, operation: "send to \(remoteAddress)"))
        case .drained:
            if case .closing = state {
                finish(nil)
                return
            }
            updateInterest()
            if notifyDrain { onDrain?() }
        }
    }

    private func completeConnect(_ onConnected: (Result<TCPConnection, NetError>) -> Void, _ timeout: TimerID) {
        loop?.cancel(timeout)
        let code = SocketCalls.pendingError(fd)
        guard code == 0 else {
            release()
            onConnected(.failure(NetError(errno: code, operation: "connect to \(remoteAddress)")))
            return
        }
        state = .open
        updateInterest()
        onConnected(.success(self))
    }

    func closeForShutdown() {
        guard case .connecting(let onConnected, let timeout) = state else {
            abort()
            return
        }
        loop?.cancel(timeout)
        release()
        onConnected(.failure(NetError(errno: ECANCELED, operation: "connect to \(remoteAddress): loop shut down")))
    }

    /// The connect timer fired before the socket became writable.
    func connectTimedOut() {
        guard case .connecting(let onConnected, _) = state else { return }
        release()
        onConnected(.failure(NetError(errno: ETIMEDOUT, operation: "connect to \(remoteAddress)")))
    }

    // MARK: Interest and teardown

    private var wantsToRead: Bool {
        switch state {
        case .open: !readingPaused && !peerSentEOF
        case .closing: !peerSentEOF
        case .connecting, .closed: false
        }
    }

    private func wantedEvents() -> UInt32 {
        if case .connecting = state { return EpollBits.writable }
        return (wantsToRead ? EpollBits.readable : 0) | (queue.isEmpty ? 0 : EpollBits.writable)
    }

    private func updateInterest() {
        guard fd >= 0, let loop else { return }
        let wanted = wantedEvents()
        guard wanted != registeredEvents else { return }
        if let error = loop.modify(fd: fd, token: token, events: wanted) {
            finish(error)
            return
        }
        registeredEvents = wanted
    }

    /// Closes the fd and reports `onClose` once, deferred to the loop.
    private func finish(_ error: NetError?) {
        switch state {
        case .closed, .connecting:
            return
        case .closing(let deadline):
            loop?.cancel(deadline)
        case .open:
            break
        }
        let callback = onClose
        release()
        guard let callback else { return }
        if let loop { loop.deferOnLoop { callback(error) } } else { callback(error) }
    }

    /// Leaves the loop, closes the fd, drops the queue and every callback (breaking the
    /// cycles through closures that captured this connection).
    private func release() {
        state = .closed
        if fd >= 0 {
            loop?.deregister(fd: fd, token: token)
            Glibc.close(fd)
            fd = -1
        }
        queue.removeAll()
        onRead = nil
        onClose = nil
        onDrain = nil
    }
}
