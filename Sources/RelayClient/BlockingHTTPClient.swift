import Glibc

/// A small blocking HTTP/1.1 client with one deadline for the whole exchange: connect, send,
/// read the answer (`Connection: close`, bodies by `Content-Length` or to the end). Used where
/// blocking is allowed: the `relay` and `relaynode admin` command lines, and the billing and
/// push adapters on worker threads (never on the event loop). A body can come from a file and
/// an answer's body can go to one, so uploads and downloads of any size use bounded memory.
public struct BlockingHTTPClient: Sendable {
    public struct Answer: Sendable, Equatable {
        public var status: Int
        public var headers: [(String, String)]
        public var body: [UInt8]
        public var text: String { String(decoding: body, as: UTF8.self) }

        public init(status: Int, headers: [(String, String)] = [], body: [UInt8]) {
            self.status = status
            self.headers = headers
            self.body = body
        }

        public func header(_ name: String) -> String? {
            headers.first { $0.0.lowercased() == name.lowercased() }?.1
        }

        public static func == (a: Answer, b: Answer) -> Bool { a.status == b.status && a.body == b.body }
    }

    public typealias Failure = BlockingSocket.Failure

    /// The largest answer held in memory: far above an API answer.
    public static let maxAnswerBytes = 4 << 20

    public var host: String
    public var port: Int
    public var timeoutMs: Int

    public init(host: String, port: Int, timeoutMs: Int) {
        self.host = host
        self.port = port
        self.timeoutMs = timeoutMs
    }

    /// `http://HOST:PORT/PATH` split, or nil.
    public static func parse(url: String) -> (host: String, port: Int, path: String)? {
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

    public func call(_ method: String, _ path: String, headers: [(String, String)] = [], body: [UInt8] = []) -> Result<Answer, Failure> {
        exchange(method, path, headers: headers, length: body.count, sendBody: { socket throws(Failure) in try socket.send(body) },
                 sink: nil)
    }

    /// Sends the file at `fd` (`length` bytes from its current offset) as the body.
    public func call(_ method: String, _ path: String, headers: [(String, String)], file fd: Int32, length: Int,
                     progress: (Int) -> Void = { _ in }) -> Result<Answer, Failure> {
        exchange(method, path, headers: headers, length: length, sendBody: { socket throws(Failure) in
            var buffer = [UInt8](repeating: 0, count: 256 * 1024)
            var sent = 0
            while sent < length {
                let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress!, min($0.count, length - sent)) }
                guard n > 0 else { throw .malformed("the file ended at \(sent) of \(length) bytes") }
                try socket.send(Array(buffer[0..<n]))
                sent += n
                progress(sent)
            }
        }, sink: nil)
    }

    /// Writes a 2xx answer's body to `fd` as it arrives (the answer's `body` is then empty);
    /// other answers are read whole, as `call` does.
    public func download(_ path: String, headers: [(String, String)], to fd: Int32) -> Result<Answer, Failure> {
        exchange("GET", path, headers: headers, length: 0, sendBody: { _ throws(Failure) in }, sink: fd)
    }

    private func exchange(_ method: String, _ path: String, headers: [(String, String)], length: Int,
                          sendBody: (BlockingSocket) throws(Failure) -> Void, sink: Int32?) -> Result<Answer, Failure> {
        do throws(Failure) {
            let socket = try BlockingSocket(host: host, port: port, deadline: BlockingSocket.nowMs() + Int64(timeoutMs))
            var head = "\(method) \(path) HTTP/1.1\r\nHost: \(host):\(port)\r\nConnection: close\r\n"
            if method != "GET" || length > 0 { head += "Content-Length: \(length)\r\n" }
            for (name, value) in headers { head += "\(name): \(value)\r\n" }
            try socket.send(Array((head + "\r\n").utf8))
            try sendBody(socket)
            return .success(try receive(socket, sink: sink))
        } catch {
            return .failure(error)
        }
    }

    private func receive(_ socket: BlockingSocket, sink: Int32?) throws(Failure) -> Answer {
        var received: [UInt8] = []
        while received.count <= Self.maxAnswerBytes {
            if let (status, fields, length, bodyStart) = Self.head(received) {
                if let sink, (200..<300).contains(status) {
                    return try stream(socket, already: Array(received[bodyStart...]), length: length, to: sink, status: status, fields: fields)
                }
                if let length, received.count - bodyStart >= length {
                    return Answer(status: status, headers: fields, body: Array(received[bodyStart..<(bodyStart + length)]))
                }
            }
            guard let chunk = try socket.receive() else { throw .timedOut }
            if chunk.isEmpty { return try Self.finish(received) }
            received += chunk
        }
        throw .malformed("over \(Self.maxAnswerBytes) bytes")
    }

    private func stream(_ socket: BlockingSocket, already: [UInt8], length: Int?, to fd: Int32, status: Int,
                        fields: [(String, String)]) throws(Failure) -> Answer {
        var written = 0
        var chunk = already
        while true {
            if let length, written + chunk.count > length { chunk = Array(chunk[0..<(length - written)]) }
            var at = 0
            while at < chunk.count {
                let n = chunk.withUnsafeBytes { write(fd, $0.baseAddress! + at, chunk.count - at) }
                guard n > 0 else { throw .malformed("write: \(String(cString: strerror(errno)))") }
                at += n
            }
            written += chunk.count
            if let length, written >= length { return Answer(status: status, headers: fields, body: []) }
            guard let next = try socket.receive() else { throw .timedOut }
            if next.isEmpty {
                if let length, written < length { throw .malformed("the body was cut short at \(written) of \(length) bytes") }
                return Answer(status: status, headers: fields, body: [])
            }
            chunk = next
        }
    }

    /// The connection closed: the answer is what came (a body without a length ends here).
    private static func finish(_ bytes: [UInt8]) throws(Failure) -> Answer {
        guard let (status, fields, length, bodyStart) = head(bytes) else {
            throw bytes.isEmpty ? .malformed("the connection closed without an answer") : .malformed("no HTTP head")
        }
        if let length, bytes.count - bodyStart < length { throw .malformed("the body was cut short") }
        return Answer(status: status, headers: fields, body: Array(bytes[bodyStart...]))
    }

    /// (status, header fields, Content-Length, where the body starts) once the head is complete.
    static func head(_ bytes: [UInt8]) -> (Int, [(String, String)], Int?, Int)? {
        let end: [UInt8] = [13, 10, 13, 10]
        guard bytes.count >= 4, let at = (0...(bytes.count - 4)).first(where: { bytes[$0..<($0 + 4)].elementsEqual(end) }) else {
            return nil
        }
        let lines = String(decoding: bytes[0..<at], as: UTF8.self).split(separator: "\r\n", omittingEmptySubsequences: false)
        let parts = lines[0].split(separator: " ")
        guard parts.count >= 2, parts[0].hasPrefix("HTTP/1."), let status = Int(parts[1]) else { return nil }
        var fields: [(String, String)] = []
        var length: Int?
        for line in lines.dropFirst() {
            let pair = line.split(separator: ":", maxSplits: 1)
            guard pair.count == 2 else { continue }
            let name = String(pair[0]), value = String(pair[1]).trimmingSpaces
            fields.append((name, value))
            if name.lowercased() == "content-length" { length = Int(value) }
        }
        return (status, fields, length, at + 4)
    }
}

extension String {
    var trimmingSpaces: String {
        var s = Substring(self)
        while s.first == " " || s.first == "\t" { s.removeFirst() }
        while s.last == " " || s.last == "\t" { s.removeLast() }
        return String(s)
    }
}
