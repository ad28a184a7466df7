import CSystem
import Glibc

/// A listening TCP socket. Loop thread only; owned by the loop until `close()`.
public final class TCPListener: LoopHandler {
    /// Connections accepted per loop turn, so a connection storm cannot starve the open ones.
    public static let maxAcceptsPerTurn = 128
    /// Pause before accepting again when out of file descriptors (EMFILE/ENFILE): the pending
    /// connection stays readable under level-triggered epoll, so retrying at once would spin.
    public static let acceptRetryAfterMs: Int64 = 100

    /// The bound port (the kernel's choice when 0 was asked).
    public let port: Int
    private weak var loop: EventLoop?
    private var fd: Int32
    private var token: UInt64 = 0
    private var onAccept: ((TCPConnection) -> Void)?
    private var retryTimer: TimerID?

    init(loop: EventLoop, fd: Int32, port: Int, onAccept: @escaping (TCPConnection) -> Void) {
        self.loop = loop
        self.fd = fd
        self.port = port
        self.onAccept = onAccept
    }

    deinit {
        if fd >= 0 { Glibc.close(fd) }
    }

    func register() throws(NetError) {
        guard let loop else { throw NetError(errno: EBADF, operation: "register: event loop is gone") }
        token = try loop.register(fd: fd, events: EpollBits.readable, handler: self)
    }

    /// Stops listening. Connections already accepted stay open.
    public func close() {
        guard fd >= 0 else { return }
        if let retryTimer { loop?.cancel(retryTimer) }
        loop?.deregister(fd: fd, token: token)
        Glibc.close(fd)
        fd = -1
        onAccept = nil
    }

    func closeForShutdown() {
        close()
    }

    func handle(events: UInt32) {
        guard let loop else { return }
        for _ in 0..<Self.maxAcceptsPerTurn {
            guard fd >= 0 else { return }
            var storage = sockaddr_storage()
            var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
            let accepted = withUnsafeMutablePointer(to: &storage) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    accept(fd, $0, &length)
                }
            }
            if accepted < 0 {
                let code = Glibc.errno
                switch code {
                case EINTR, ECONNABORTED, EPROTO:
                    continue  // that one connection failed; others may be waiting
                case _ where SocketCalls.isWouldBlock(code):
                    return
                default:
                    backOff(loop)  // EMFILE, ENFILE, ENOBUFS, ENOMEM: wait for resources
                    return
                }
            }
            let remote = SocketAddress(storage: storage, length: length).description
            let connection = TCPConnection(loop: loop, fd: accepted, remoteAddress: remote, state: .open)
            do {
                try SocketCalls.makeNonBlocking(accepted)
                try SocketCalls.setNoDelay(accepted)
                try connection.register()
            } catch {
                connection.abort()
                continue
            }
            onAccept?(connection)
        }
    }

    private func backOff(_ loop: EventLoop) {
        guard retryTimer == nil, loop.modify(fd: fd, token: token, events: 0) == nil else { return }
        retryTimer = loop.schedule(afterMs: Self.acceptRetryAfterMs) { [weak self] in
            guard let self, let loop = self.loop, self.fd >= 0 else { return }
            self.retryTimer = nil
            _ = loop.modify(fd: self.fd, token: self.token, events: EpollBits.readable)
        }
    }
}
