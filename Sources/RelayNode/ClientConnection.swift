import HTTPWire
import Net

/// One client TCP connection: HTTP/1.1 requests one at a time (pipelined ones wait in the
/// parser), until a WebSocket upgrade hands the socket to a `WebSocketSession`.
final class ClientConnection {
    let id: UInt64
    let tcp: TCPConnection
    unowned let server: ClientServer
    private var parser: HTTPRequestParser
    private(set) var webSocket: WebSocketSession?
    /// A request is being answered: the next one waits, so answers keep the requests' order.
    private var answering = false
    private var parsing = false
    private var closing = false
    private(set) var lastActivityMs: Int64
    /// When the bytes of an unfinished request started arriving (slow-client timeout).
    private(set) var requestStartedMs: Int64?

    init(id: UInt64, tcp: TCPConnection, server: ClientServer, limits: HTTPLimits, now: Int64) {
        self.id = id
        self.tcp = tcp
        self.server = server
        parser = HTTPRequestParser(limits: limits)
        lastActivityMs = now
    }

    func start() {
        tcp.onRead = { [unowned self] bytes in self.received(bytes) }
        tcp.onDrain = { [unowned self] in self.webSocket?.drained() }
        tcp.onClose = { [unowned self] _ in self.closed() }
    }

    private func received(_ bytes: UnsafeRawBufferPointer) {
        lastActivityMs = server.now
        if let webSocket { return webSocket.received(bytes) }
        guard !closing else { return }
        parser.feed(bytes)
        parseRequests()
    }

    private func parseRequests() {
        guard !parsing else { return }
        parsing = true
        defer { parsing = false }
        while !answering, !closing, webSocket == nil {
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
                if parser.isMidRequest { requestStartedMs = requestStartedMs ?? server.now } else { requestStartedMs = nil }
                return
            }
            requestStartedMs = nil
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
        if !keepAlive {
            closing = true
            tcp.close()
            return
        }
        parseRequests()
    }

    /// Switches the socket to WebSocket framing after the 101 answer.
    func upgrade(to session: WebSocketSession, acceptKey: String) {
        guard answering, !closing else { return }
        answering = false
        tcp.write(WebSocketHandshake.response(acceptKey: acceptKey))
        webSocket = session
        let rest = parser.takeBufferedBytes()
        session.start(buffered: rest)
    }

    /// Closes slow or idle HTTP clients (the WebSocket session times itself).
    func sweep(now: Int64) {
        guard webSocket == nil, !closing else { return }
        if let started = requestStartedMs, now - started > ClientServer.requestTimeoutMs {
            answering = true
            respond(Reply.error(status: 408, code: "bad_request", message: "request not received in time"), keepAlive: false)
        } else if !answering, !parser.isMidRequest, now - lastActivityMs > ClientServer.idleTimeoutMs {
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
        webSocket?.closed()
        server.removed(self)
    }
}
