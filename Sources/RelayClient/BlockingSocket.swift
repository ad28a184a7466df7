import Glibc

/// A blocking TCP connection to an IPv4 address with one deadline for everything done on it:
/// the shared part of `BlockingHTTPClient` and `BlockingWebSocket`. For command-line tools and
/// worker threads only, never the event loop. IPv4 literals and `localhost` only: no name
/// resolution, so nothing blocks in the resolver past its deadline.
public final class BlockingSocket {
    public enum Failure: Error, Sendable, Equatable, CustomStringConvertible {
        /// Nothing was sent: the connection was refused or the address is bad.
        case unreachable(String)
        /// The deadline passed (what was sent may have been received).
        case timedOut
        /// The peer closed the connection or the answer was not what the protocol says.
        case malformed(String)

        public var description: String {
            switch self {
            case .unreachable(let why): "unreachable: \(why)"
            case .timedOut: "timed out"
            case .malformed(let why): "bad answer: \(why)"
            }
        }
    }

    let fd: Int32
    public var deadline: Int64

    /// Connects before `deadline` (monotonic ms).
    public init(host: String, port: Int, deadline: Int64) throws(Failure) {
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = UInt16(port).bigEndian
        guard inet_pton(AF_INET, host == "localhost" ? "127.0.0.1" : host, &address.sin_addr) == 1 else {
            throw .unreachable("not an IPv4 address: \(host)")
        }
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        self.deadline = deadline
        guard fd >= 0 else { throw .unreachable("socket: \(String(cString: strerror(errno)))") }
        let fd = self.fd
        let rc = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        if rc != 0 {
            guard errno == EINPROGRESS else { throw .unreachable("\(host):\(port): \(String(cString: strerror(errno)))") }
            guard wait(for: Int16(POLLOUT)) else { throw .timedOut }
            var error: Int32 = 0
            var length = socklen_t(MemoryLayout<Int32>.size)
            getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &length)
            if error != 0 { throw .unreachable("\(host):\(port): \(String(cString: strerror(error)))") }
        }
    }

    deinit { if fd >= 0 { close(fd) } }

    /// Sends all of `bytes` before the deadline.
    public func send(_ bytes: [UInt8]) throws(Failure) {
        var sent = 0
        while sent < bytes.count {
            let n = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress! + sent, bytes.count - sent, Int32(MSG_NOSIGNAL)) }
            if n > 0 { sent += n; continue }
            guard n < 0, errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR else {
                throw .malformed("send: \(String(cString: strerror(errno)))")
            }
            guard wait(for: Int16(POLLOUT)) else { throw .timedOut }
        }
    }

    /// Up to `max` bytes; empty when the peer closed. Waits until `until` (the deadline by
    /// default): nil when it passes with nothing read.
    public func receive(max: Int = 64 * 1024, until: Int64? = nil) throws(Failure) -> [UInt8]? {
        var buffer = [UInt8](repeating: 0, count: max)
        while true {
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress!, $0.count, 0) }
            if n > 0 { return Array(buffer[0..<n]) }
            if n == 0 { return [] }
            guard errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR else { return [] }
            guard wait(for: Int16(POLLIN), until: until ?? deadline) else { return nil }
        }
    }

    private func wait(for events: Int16, until: Int64? = nil) -> Bool {
        let end = until ?? deadline
        while true {
            let left = end - Self.nowMs()
            guard left > 0 else { return false }
            var entry = pollfd(fd: fd, events: events, revents: 0)
            let n = poll(&entry, 1, Int32(min(left, Int64(Int32.max))))
            if n > 0 { return true }
            if n < 0, errno == EINTR { continue }
            if n == 0 { return false }
            return true   // an error shows at the next call
        }
    }

    public static func nowMs() -> Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Int64(ts.tv_sec) * 1000 + Int64(ts.tv_nsec) / 1_000_000
    }
}
