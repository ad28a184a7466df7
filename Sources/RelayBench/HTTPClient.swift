import Net

/// One keep-alive HTTP/1.1 connection to a node, one request at a time (no pipelining, as a
/// browser does). Requests queue in order; the connection opens on the first one and reopens
/// after the server closes it. Loop thread only.
final class HTTPClient {
    typealias Completion = (Result<HTTPReply, HTTPReplyError>) -> Void

    /// Requests queued behind the one in flight; a bench that queues more has a bug.
    static let maxQueuedRequests = 100_000

    private struct Request {
        let bytes: [UInt8]
        let completion: Completion
    }

    private enum State {
        case idle
        case connecting
        case open(TCPConnection)
    }

    let loop: EventLoop
    let endpoint: Endpoint
    private var state: State = .idle
    private var queue: [Request] = []
    private var queueHead = 0
    private var inFlight: Request?
    private var parser = HTTPReplyParser()

    init(loop: EventLoop, endpoint: Endpoint) {
        self.loop = loop
        self.endpoint = endpoint
    }

    /// Sends `method path` with an optional bearer token and JSON body.
    func request(_ method: String, _ path: String, token: String? = nil, body: [UInt8]? = nil,
                 completion: @escaping Completion) {
        guard queue.count - queueHead < Self.maxQueuedRequests else {
            return completion(.failure(HTTPReplyError(description: "too many queued requests")))
        }
        var head = "\(method) \(path) HTTP/1.1\r\nHost: \(endpoint)\r\n"
        if let token { head += "Authorization: Bearer \(token)\r\n" }
        if let body { head += "Content-Type: application/json\r\nContent-Length: \(body.count)\r\n" }
        head += "\r\n"
        var bytes = Array(head.utf8)
        if let body { bytes += body }
        queue.append(Request(bytes: bytes, completion: completion))
        pump()
    }

    /// Closes the connection; queued requests fail.
    func close() {
        if case .open(let connection) = state { connection.close() }
        state = .idle
        failAll("client closed")
    }

    private func pump() {
        guard inFlight == nil, queueHead < queue.count else { return }
        switch state {
        case .connecting:
            return
        case .idle:
            connect()
        case .open(let connection):
            let request = queue[queueHead]
            queueHead += 1
            if queueHead > 1024, queueHead * 2 > queue.count {
                queue.removeFirst(queueHead)
                queueHead = 0
            }
            inFlight = request
            connection.write(request.bytes)
        }
    }

    private func connect() {
        state = .connecting
        loop.connectTCP(host: endpoint.host, port: endpoint.port) { [self] result in
            switch result {
            case .failure(let error):
                state = .idle
                failAll("connect to \(endpoint): \(error)")
            case .success(let connection):
                state = .open(connection)
                parser = HTTPReplyParser()
                connection.onRead = { [weak self] bytes in self?.received(bytes) }
                connection.onClose = { [weak self] error in self?.closed(error) }
                pump()
            }
        }
    }

    private func received(_ bytes: UnsafeRawBufferPointer) {
        parser.feed(bytes)
        while true {
            let reply: HTTPReply?
            do { reply = try parser.next() } catch {
                if case .open(let connection) = state { connection.abort() }
                state = .idle
                failAll("\(endpoint): \(error)")
                return
            }
            guard let reply else { return }
            guard let request = inFlight else { continue }   // unsolicited (a 408): ignore
            inFlight = nil
            request.completion(.success(reply))
            pump()
        }
    }

    private func closed(_ error: NetError?) {
        state = .idle
        if let request = inFlight {
            inFlight = nil
            request.completion(.failure(HTTPReplyError(description: "\(endpoint) closed the connection: \(error.map { "\($0)" } ?? "EOF")")))
        }
        // Keep-alive ended (idle timeout): later requests reconnect.
        pump()
    }

    private func failAll(_ why: String) {
        let pending = (inFlight.map { [$0] } ?? []) + queue[queueHead...]
        inFlight = nil
        queue = []
        queueHead = 0
        for request in pending { request.completion(.failure(HTTPReplyError(description: why))) }
    }
}
