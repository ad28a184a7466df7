import Foundation
import Glibc

/// A small blocking HTTP/1.1 client with one deadline for the whole exchange: connect, send,
/// read the answer (`Connection: close`, bodies by `Content-Length` or to the end). Used where
/// blocking is allowed: the `relaynode admin` CLI, and the billing adapter on a worker thread
/// (never on the event loop). IPv4 literals and `localhost` only: no name resolution, so no
/// call can block in the resolver past its deadline.
struct BlockingHTTPClient {
    struct Answer: Sendable, Equatable {
        var status: Int
        var body: [UInt8]
        var text: String { String(decoding: body, as: UTF8.self) }
    }

    enum Failure: Error, Sendable, Equatable, CustomStringConvertible {
        /// Nothing was sent: the connection was refused or the address is bad.
        case unreachable(String)
        /// The deadline passed (the request may have been received).
        case timedOut
        /// The answer was not HTTP/1.x or was cut short.
        case malformed(String)

        var description: String {
            switch self {
            case .unreachable(let why): "unreachable: \(why)"
            case .timedOut: "timed out"
            case .malformed(let why): "bad answer: \(why)"
            }
        }
    }

    /// The largest answer read: far above an admin or billing answer.
    static let maxAnswerBytes = 4 << 20

    var host: String
    var port: Int
    var timeoutMs: Int

    /// `http://HOST:PORT/PATH` split, or nil.
    static func parse(url: String) -> (host: String, port: Int, path: String)? {
        guard url.hasPrefix("http://") else { return nil }
        let rest = url.dropFirst("http://".count)
        let authority = rest.prefix { $0 != "/" }
        let path = rest.dropFirst(authority.count)
        guard let colon = authority.lastIndex(of: ":"), let port = Int(authority[authority.index(after: colon)...]),
              (1...65_535).contains(port) else { return nil }
        let host = String(authority[..<colon])
        var probe = in_addr()
        guard host == "localhost" || inet_pton(AF_INET, host, &probe) == 1 else { return nil }
        return (host, port, path.isEmpty ? "/" : String(path))
    }

    func call(_ method: String, _ path: String, headers: [(String, String)] = [], body: [UInt8] = []) -> Result<Answer, Failure> {
        let deadline = Self.nowMs() + Int64(timeoutMs)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = UInt16(port).bigEndian
        guard inet_pton(AF_INET, host == "localhost" ? "127.0.0.1" : host, &address.sin_addr) == 1 else {
            return .failure(.unreachable("not an IPv4 address: \(host)"))
        }
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return .failure(.unreachable("socket: \(String(cString: strerror(errno)))")) }
        defer { close(fd) }
        let rc = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        if rc != 0 {
            guard errno == EINPROGRESS else { return .failure(.unreachable("\(host):\(port): \(String(cString: strerror(errno)))")) }
            guard wait(fd, for: Int16(POLLOUT), until: deadline) else { return .failure(.timedOut) }
            var error: Int32 = 0
            var length = socklen_t(MemoryLayout<Int32>.size)
            getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &length)
            if error != 0 { return .failure(.unreachable("\(host):\(port): \(String(cString: strerror(error)))")) }
        }
        var head = "\(method) \(path) HTTP/1.1\r\nHost: \(host):\(port)\r\nConnection: close\r\nContent-Length: \(body.count)\r\n"
        for (name, value) in headers { head += "\(name): \(value)\r\n" }
        let request = Array((head + "\r\n").utf8) + body
        var sent = 0
        while sent < request.count {
            let n = request.withUnsafeBytes { send(fd, $0.baseAddress! + sent, request.count - sent, Int32(MSG_NOSIGNAL)) }
            if n > 0 { sent += n; continue }
            guard n < 0, errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR else {
                return .failure(.unreachable("send: \(String(cString: strerror(errno)))"))
            }
            guard wait(fd, for: Int16(POLLOUT), until: deadline) else { return .failure(.timedOut) }
        }
        var received: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 16 * 1024)
        while received.count <= Self.maxAnswerBytes {
            if let answer = Self.complete(received) { return .success(answer) }
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress!, $0.count, 0) }
            if n > 0 { received += buffer[0..<n]; continue }
            if n == 0 { return Self.finish(received) }
            guard errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR else { return Self.finish(received) }
            guard wait(fd, for: Int16(POLLIN), until: deadline) else { return .failure(.timedOut) }
        }
        return .failure(.malformed("over \(Self.maxAnswerBytes) bytes"))
    }

    /// The answer once its head and `Content-Length` bytes of body are in.
    private static func complete(_ bytes: [UInt8]) -> Answer? {
        guard let (status, length, bodyStart) = head(bytes), let length, bytes.count - bodyStart >= length else { return nil }
        return Answer(status: status, body: Array(bytes[bodyStart..<(bodyStart + length)]))
    }

    /// The connection closed: the answer is what came (a body without a length ends here).
    private static func finish(_ bytes: [UInt8]) -> Result<Answer, Failure> {
        guard let (status, length, bodyStart) = head(bytes) else {
            return .failure(bytes.isEmpty ? .malformed("the connection closed without an answer") : .malformed("no HTTP head"))
        }
        if let length, bytes.count - bodyStart < length { return .failure(.malformed("the body was cut short")) }
        return .success(Answer(status: status, body: Array(bytes[bodyStart...])))
    }

    /// (status, Content-Length, where the body starts) once the head is complete.
    private static func head(_ bytes: [UInt8]) -> (Int, Int?, Int)? {
        let end: [UInt8] = [13, 10, 13, 10]
        guard bytes.count >= 4, let at = (0...(bytes.count - 4)).first(where: { bytes[$0..<($0 + 4)].elementsEqual(end) }) else {
            return nil
        }
        let lines = String(decoding: bytes[0..<at], as: UTF8.self).components(separatedBy: "\r\n")
        let parts = lines[0].split(separator: " ")
        guard parts.count >= 2, parts[0].hasPrefix("HTTP/1."), let status = Int(parts[1]) else { return nil }
        var length: Int?
        for line in lines.dropFirst() {
            let pair = line.split(separator: ":", maxSplits: 1)
            if pair.count == 2, pair[0].lowercased() == "content-length" {
                length = Int(pair[1].trimmingCharacters(in: .whitespaces))
            }
        }
        return (status, length, at + 4)
    }

    private func wait(_ fd: Int32, for events: Int16, until deadline: Int64) -> Bool {
        while true {
            let left = deadline - Self.nowMs()
            guard left > 0 else { return false }
            var entry = pollfd(fd: fd, events: events, revents: 0)
            let n = poll(&entry, 1, Int32(min(left, Int64(Int32.max))))
            if n > 0 { return true }
            if n < 0, errno == EINTR { continue }
            if n == 0 { return false }
            return true   // an error shows at the next call
        }
    }

    static func nowMs() -> Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Int64(ts.tv_sec) * 1000 + Int64(ts.tv_nsec) / 1_000_000
    }
}
