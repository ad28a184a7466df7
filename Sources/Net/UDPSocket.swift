import CSystem
import Glibc

/// A bound UDP socket (gossip). Loop thread only; owned by the loop until `close()`.
/// UDP is lossy and so is this: a datagram the kernel cannot take now is dropped, not queued.
public final class UDPSocket: LoopHandler {
    /// Datagrams received per loop turn before other sockets get their turn.
    public static let maxDatagramsPerTurn = 256
    /// Largest payload that fits an IPv4 datagram: 65,535 (RFC 791 total length) - 20 (IP
    /// header) - 8 (UDP header, RFC 768). Fits the loop's 64 KiB read buffer.
    public static let maxDatagramBytes = 65_507

    public let port: Int
    /// The bound "ip:port", printed as `recvfrom` prints a sender, so a receiver can compare
    /// what a datagram says about its sender with where it came from (gossip's sender binding).
    public let localAddress: String
    private weak var loop: EventLoop?
    private var fd: Int32
    private var token: UInt64 = 0
    private var onDatagram: (([UInt8], String) -> Void)?

    init(loop: EventLoop, fd: Int32, local: SocketAddress, onDatagram: @escaping ([UInt8], String) -> Void) {
        self.loop = loop
        self.fd = fd
        port = local.port
        localAddress = local.description
        self.onDatagram = onDatagram
    }

    deinit {
        if fd >= 0 { Glibc.close(fd) }
    }

    func register() throws(NetError) {
        guard let loop else { throw NetError(errno: EBADF, operation: "register: event loop is gone") }
        token = try loop.register(fd: fd, events: EpollBits.readable, handler: self)
    }

    /// Sends one datagram to "ip:port". Returns the error if it was not sent (bad address,
    /// oversized, EAGAIN when the socket buffer is full, closed socket).
    @discardableResult
    public func send(_ bytes: [UInt8], to address: String) -> NetError? {
        guard fd >= 0 else { return NetError(errno: EBADF, operation: "send on closed UDP socket") }
        guard bytes.count <= Self.maxDatagramBytes else {
            return NetError(errno: EMSGSIZE, operation: "datagram of \(bytes.count) bytes")
        }
        let destination: SocketAddress
        do { destination = try SocketAddress(parsing: address) } catch { return error }
        let sent = bytes.withUnsafeBytes { raw in
            destination.withSockaddr { sendto(fd, raw.baseAddress, raw.count, SocketCalls.noSignal, $0, $1) }
        }
        return sent < 0 ? NetError.last("sendto \(address)") : nil
    }

    public func close() {
        guard fd >= 0 else { return }
        loop?.deregister(fd: fd, token: token)
        Glibc.close(fd)
        fd = -1
        onDatagram = nil
    }

    func closeForShutdown() {
        close()
    }

    func handle(events: UInt32) {
        guard let buffer = loop?.readBuffer, let base = buffer.baseAddress else { return }
        for _ in 0..<Self.maxDatagramsPerTurn {
            guard fd >= 0 else { return }
            var storage = sockaddr_storage()
            var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
            let count = withUnsafeMutablePointer(to: &storage) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    recvfrom(fd, base, buffer.count, 0, $0, &length)
                }
            }
            if count < 0 {
                // EAGAIN: drained. Other errors (a queued ICMP error) are consumed by the
                // failed call and say nothing about the next datagram: stop for this turn.
                if Glibc.errno == EINTR { continue }
                return
            }
            let from = SocketAddress(storage: storage, length: length).description
            onDatagram?(Array(UnsafeRawBufferPointer(start: base, count: count)), from)
        }
    }
}
