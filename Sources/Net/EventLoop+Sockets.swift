import CSystem
import Glibc

extension EventLoop {
    /// Listens on host:port (IP literal; port 0 picks a free one, see `TCPListener.port`).
    /// SO_REUSEADDR lets a restarted node rebind while old connections sit in TIME_WAIT.
    /// Accepted connections have TCP_NODELAY set; `onAccept` runs on the loop thread and
    /// should set the connection's callbacks before returning.
    public func listenTCP(
        host: String, port: Int, backlog: Int = 1024, onAccept: @escaping (TCPConnection) -> Void
    ) throws(NetError) -> TCPListener {
        let address = try SocketAddress(host: host, port: port)
        let fd = try SocketCalls.open(address, type: SocketCalls.streamFlags, operation: "socket")
        let bound: SocketAddress
        do throws(NetError) {
            try SocketCalls.setOption(fd, SOL_SOCKET, SO_REUSEADDR, 1, "setsockopt SO_REUSEADDR")
            try SocketCalls.bind(fd, address)
            guard Glibc.listen(fd, Int32(clamping: backlog)) == 0 else { throw NetError.last("listen \(address)") }
            bound = try SocketCalls.localAddress(fd)
        } catch {
            Glibc.close(fd)
            throw error
        }
        // From here the listener owns the fd (its deinit closes it if registering fails).
        let listener = TCPListener(loop: self, fd: fd, port: bound.port, onAccept: onAccept)
        try listener.register()
        return listener
    }

    /// Connects without blocking. `onConnected` runs on the loop thread, never before this
    /// call returns: with the open connection (TCP_NODELAY set), or the error (ECONNREFUSED,
    /// ETIMEDOUT after `timeoutMs`, EINVAL for a bad address, ...).
    public func connectTCP(
        host: String, port: Int, timeoutMs: Int64 = TCPConnection.defaultConnectTimeoutMs,
        onConnected: @escaping (Result<TCPConnection, NetError>) -> Void
    ) {
        let address: SocketAddress
        let fd: Int32
        do {
            address = try SocketAddress(host: host, port: port)
            fd = try SocketCalls.open(address, type: SocketCalls.streamFlags, operation: "socket")
        } catch {
            deferOnLoop { onConnected(.failure(error)) }
            return
        }
        let rc = address.withSockaddr { Glibc.connect(fd, $0, $1) }
        let code = Glibc.errno
        // 0 (loopback may finish at once) and EINPROGRESS both end in writability, where the
        // outcome is read from SO_ERROR; EINTR means the connect continues asynchronously.
        guard rc == 0 || code == EINPROGRESS || code == EINTR else {
            Glibc.close(fd)
            deferOnLoop { onConnected(.failure(NetError(errno: code, operation: "connect to \(address)"))) }
            return
        }
        do {
            try SocketCalls.setNoDelay(fd)
        } catch {
            Glibc.close(fd)
            deferOnLoop { onConnected(.failure(error)) }
            return
        }
        // The timer needs the connection and the connection's state needs the timer: take the
        // id first, the connection is filled in right after (same turn, nothing runs between).
        var pending: TCPConnection?
        let timeout = schedule(afterMs: timeoutMs) { pending?.connectTimedOut() }
        let connection = TCPConnection(
            loop: self, fd: fd, remoteAddress: address.description,
            state: .connecting(onConnected: onConnected, timeout: timeout))
        pending = connection
        do {
            try connection.register()
        } catch {
            // Dropping the timer drops the last reference; the connection's deinit closes fd.
            pending = nil
            cancel(timeout)
            deferOnLoop { onConnected(.failure(error)) }
        }
    }

    /// Binds a UDP socket on host:port (port 0 picks a free one). `onDatagram` gets each
    /// datagram's bytes and its sender as "ip:port", on the loop thread.
    public func bindUDP(
        host: String, port: Int, onDatagram: @escaping ([UInt8], _ from: String) -> Void
    ) throws(NetError) -> UDPSocket {
        let address = try SocketAddress(host: host, port: port)
        let fd = try SocketCalls.open(address, type: SocketCalls.datagramFlags, operation: "socket")
        let bound: SocketAddress
        do throws(NetError) {
            try SocketCalls.bind(fd, address)
            bound = try SocketCalls.localAddress(fd)
        } catch {
            Glibc.close(fd)
            throw error
        }
        // From here the socket owns the fd (its deinit closes it if registering fails).
        let socket = UDPSocket(loop: self, fd: fd, local: bound, onDatagram: onDatagram)
        try socket.register()
        return socket
    }
}
