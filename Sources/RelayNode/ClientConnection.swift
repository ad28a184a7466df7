import HTTPWire
import Net

/// One client TCP connection: HTTP/1.1 requests one at a time (pipelined ones wait in the
/// parser), until a WebSocket upgrade hands the socket to a `WebSocketSession`.
///
/// Reading is a decision made in one place (`updateReading`): the socket is read only while
/// the connection can use what arrives. It pauses while a request is being answered and more
/// than `maxReadAheadBytes` of the next ones are already buffered, while more than
/// `maxUnsentBytes` of answers wait for the client to read them, and while the connection
/// waits for its share of a loop turn (`ClientBudget`). TCP flow control then slows the client.
final class ClientConnection {
    /// Bytes of pipelined requests held while one is being answered: enough for a few small
    /// requests; a client that sends more waits for its answers.
    static let maxReadAheadBytes = 64 * 1024
    /// Answer bytes the client has not read yet, above which nothing more of its input is read
    /// or answered until it has read them (for WebSocket: replies and control frames; pushes
    /// have their own, larger bound in `WebSocketSession`).
    static let maxUnsentBytes = 1 << 20

    let id: UInt64
    let tcp: TCPConnection
    unowned let server: ClientServer
    private var parser: HTTPRequestParser
    private(set) var webSocket: WebSocketSession?
    private(set) var budget: ClientBudget.Account!
    /// A request is being answered: the next one waits, so answers keep the requests' order.
    private var answering = false
    private var parsing = false
    private var closing = false
    /// Since when the connection has had no request to answer (the idle timeout's start).
    private var idleSinceMs: Int64
    /// When the bytes of the next request started arriving: any byte counts, empty lines
    /// included, and only a complete request clears it, so trickling cannot extend it.
    private(set) var requestStartedMs: Int64?
    private var readingPaused = false

    init(id: UInt64, tcp: TCPConnection, server: ClientServer, limits: HTTPLimits, now: Int64) {
        self.id = id
        self.tcp = tcp
        self.server = server
        parser = HTTPRequestParser(limits: limits)
        idleSinceMs = now
        budget = ClientBudget.Account { [weak self] in self?.resumeAfterBudget() }
    }

    func start() {
        tcp.onRead = { [unowned self] bytes in self.received(bytes) }
        tcp.onDrain = { [unowned self] in self.drained() }
        tcp.onClose = { [unowned self] _ in self.closed() }
    }

    private func received(_ bytes: UnsafeRawBufferPointer) {
        if let webSocket { return webSocket.received(bytes) }
        guard !closing else { return }
        if requestStartedMs == nil, !answering { requestStartedMs = server.now }
        parser.feed(bytes)
        parseRequests()
    }

    private func parseRequests() {
        guard !parsing else { return }
        parsing = true
        defer {
            parsing = false
            updateReading()
        }
        while !answering, !closing, webSocket == nil, tcp.pendingWriteBytes <= Self.maxUnsentBytes,
              parser.bufferedByteCount > 0 || parser.isMidRequest {
            guard server.budget.hasRoom(budget) else { return }
            let request: HTTPRequest?
            do {
                request = try parser.next()
            } catch {
                server.metrics.badFrames += 1
                answering = true
                respond(Reply.error(status: error.status, code: Reply.code(forStatus: error.status), message: error.message),
                        keepAlive: false)
                return
            }
            guard let request else {
                if parser.takeContinueRequest() { tcp.write(HTTPResponse.continueHead) }
                return
            }
            server.budget.spend(budget)
            // The next request's clock starts when its first byte is here.
            requestStartedMs = parser.bufferedByteCount > 0 ? server.now : nil
            answering = true
            server.api.handle(request, on: self)
        }
    }

    /// Writes the answer to the request being answered, then reads the next one.
    func respond(_ response: HTTPResponse, keepAlive: Bool, head: Bool = false) {
        guard answering, !closing else { return }
        var response = response
        response.headers.set("Access-Control-Allow-Origin", "*")
        server.metrics.httpRequests += 1
        if response.status >= 400 { server.metrics.httpErrors += 1 }
        tcp.write(response.serialize(keepAlive: keepAlive, includeBody: !head))
        answering = false
        idleSinceMs = server.now
        if !keepAlive {
            closing = true
            tcp.close()
            return
        }
        // Bytes that arrived while answering start their clock now, when they can be read.
        if parser.bufferedByteCount > 0 { requestStartedMs = server.now }
        parseRequests()
    }

    /// Switches the socket to WebSocket framing after the 101 answer.
    func upgrade(to session: WebSocketSession, acceptKey: String) {
        guard answering, !closing else { return }
        answering = false
        requestStartedMs = nil
        tcp.write(WebSocketHandshake.response(acceptKey: acceptKey))
        webSocket = session
        let rest = parser.takeBufferedBytes()
        session.start(buffered: rest)
        updateReading()
    }

    // MARK: Reading and its pauses

    /// Pauses or resumes reading the socket to match what the connection can take now.
    func updateReading() {
        guard !closing else { return }
        let wanted: Bool
        if let webSocket {
            wanted = webSocket.wantsInput && !budget.isWaiting
        } else {
            wanted = !budget.isWaiting && tcp.pendingWriteBytes <= Self.maxUnsentBytes
                && !(answering && parser.bufferedByteCount >= Self.maxReadAheadBytes)
        }
        guard wanted == readingPaused else { return }
        readingPaused = !wanted
        if wanted { tcp.resumeReading() } else { tcp.pauseReading() }
    }

    /// The client read everything written to it.
    private func drained() {
        if let webSocket {
            webSocket.drained()
        } else {
            parseRequests()
        }
        updateReading()
    }

    /// A later turn gave the connection a new share.
    private func resumeAfterBudget() {
        guard !closing else { return }
        if let webSocket { webSocket.resumeReading() } else { parseRequests() }
        updateReading()
    }

    /// Closes slow or idle HTTP clients (the WebSocket session times itself).
    func sweep(now: Int64) {
        guard webSocket == nil, !closing, !answering else { return }
        if let started = requestStartedMs {
            guard now - started > ClientServer.requestTimeoutMs else { return }
            answering = true
            respond(Reply.error(status: 408, code: "bad_request", message: "request not received in time"), keepAlive: false)
        } else if now - idleSinceMs > ClientServer.idleTimeoutMs {
            closing = true
            tcp.close()
        }
    }

    func close() {
        closing = true
        tcp.close()
    }

    private func closed() {
        closing = true
        server.budget.forget(budget)
        webSocket?.closed()
        server.removed(self)
    }
}
