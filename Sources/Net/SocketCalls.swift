import CSystem
import Glibc

/// Thin wrappers over the socket system calls the loop uses, turning -1 into `NetError`.
enum SocketCalls {
    static let streamFlags = Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue)
    static let datagramFlags = Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue)
    static let noSignal = Int32(MSG_NOSIGNAL)

    /// A non-blocking, close-on-exec socket of the address's family.
    static func open(_ address: SocketAddress, type: Int32, operation: String) throws(NetError) -> Int32 {
        let fd = socket(address.family, type, 0)
        guard fd >= 0 else { throw NetError.last(operation) }
        return fd
    }

    static func setOption(_ fd: Int32, _ level: Int32, _ name: Int32, _ value: Int32, _ operation: String) throws(NetError) {
        var value = value
        guard setsockopt(fd, level, name, &value, socklen_t(MemoryLayout<Int32>.size)) == 0 else {
            throw NetError.last(operation)
        }
    }

    /// Nagle's algorithm would hold small frames (chat messages, acks) up to 40 ms waiting for
    /// more bytes; we batch in user space instead (RFC 896, RFC 1122 4.2.3.4).
    static func setNoDelay(_ fd: Int32) throws(NetError) {
        try setOption(fd, Int32(IPPROTO_TCP), TCP_NODELAY, 1, "setsockopt TCP_NODELAY")
    }

    /// For accepted sockets: `accept4` (which sets both flags in the same call) needs
    /// _GNU_SOURCE, which the CSystem shim does not define, so two fcntl calls instead.
    static func makeNonBlocking(_ fd: Int32) throws(NetError) {
        let flags = fcntl(fd, F_GETFL)
        guard flags >= 0, fcntl(fd, F_SETFL, flags | O_NONBLOCK) == 0,
              fcntl(fd, F_SETFD, FD_CLOEXEC) == 0 else { throw NetError.last("fcntl") }
    }

    static func bind(_ fd: Int32, _ address: SocketAddress) throws(NetError) {
        let rc = address.withSockaddr { Glibc.bind(fd, $0, $1) }
        guard rc == 0 else { throw NetError.last("bind \(address)") }
    }

    static func localAddress(_ fd: Int32) throws(NetError) -> SocketAddress {
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let rc = withUnsafeMutablePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        guard rc == 0 else { throw NetError.last("getsockname") }
        return SocketAddress(storage: storage, length: length)
    }

    /// The pending error of a socket (SO_ERROR), e.g. the outcome of a non-blocking connect.
    static func pendingError(_ fd: Int32) -> Int32 {
        var value: Int32 = 0
        var length = socklen_t(MemoryLayout<Int32>.size)
        guard getsockopt(fd, SOL_SOCKET, SO_ERROR, &value, &length) == 0 else { return Glibc.errno }
        return value
    }

    static func isWouldBlock(_ code: Int32) -> Bool {
        code == EAGAIN || code == EWOULDBLOCK
    }
}
