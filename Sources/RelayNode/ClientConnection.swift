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
    /// A streamed request body (an asset upload) and who takes its pieces.
    private var bodyConsumer: BodyConsumer?
    /// When the streamed body last delivered bytes: one that stalls for
    /// `ClientServer.requestTimeoutMs` is answered 408 and its connection closed.
    private var bodyLastByteMs: Int64 = 0
    /// The consumer cannot take more now (its copies to other nodes lag): reading waits.
    private var bodyPaused = false

    /// Pauses or resumes taking the streamed body (the consumer's own backpressure).
    func setBodyPaused(_ paused: Bool) {
        guard bodyPaused != paused else { return }
        bodyPaused = paused
        bodyLastByteMs = server.now
        if !paused, bodyConsumer != nil { drainBody() } else { updateReading() }
    }
    /// A streamed answer (an asset download) being written as the client reads it.
    private var bodySource: BodySource?

    /// Takes a streamed request body: `consume` gets each piece as it arrives, `finished` runs
    /// after the last, `aborted` if the client leaves first.
    struct BodyConsumer {
        var consume: ([UInt8]) -> Void
        var finished: () -> Void
        var aborted: () -> Void
    }

    /// Writes a streamed answer: `read(offset, maxBytes, deliver)` delivers the next piece of
    /// the body (nil: it cannot, and the connection is closed mid-answer).
    private struct BodySource {
        var read: (_ offset: Int, _ maxBytes: Int, _ deliver: @escaping ([UInt8]?) -> Void) -> Void
        var length: Int
        var sent = 0
        var waiting = false
        var keepAlive: Bool
    }
    /// Unsent answer bytes above which a streamed answer waits for the client to read.
    static let streamedAnswerHighWaterBytes = 512 * 1024
    /// Piece of a streamed answer read at once.
    static let streamedAnswerPieceBytes = 256 * 1024

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
        if bodyConsumer != nil {
            parser.feed(bytes)
            return drainBody()
        }
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

    // MARK: Streamed bodies (assets)

    /// Starts taking the body of a streamed request (`HTTPRequest.streamedBodyBytes`): pieces
    /// go to `consumer` as the socket delivers them, each read turn's worth at most, so
    /// nothing but the piece in hand is held. A client that asked for `100-continue` is
    /// told to send now.
    func streamBody(expectsContinue: Bool, _ consumer: BodyConsumer) {
        guard answering, !closing, parser.streamedBodyRemaining > 0 else { return consumer.finished() }
        bodyConsumer = consumer
        bodyLastByteMs = server.now
        if expectsContinue { tcp.write(HTTPResponse.continueHead) }
        drainBody()
    }

    /// Each piece is client work like a request (hashed and written on the loop): it is
    /// admitted by the turn's budget, and a connection over its share waits for a later turn
    /// with the rest left in its parser (at most one turn's read) and its socket paused.
    private func drainBody() {
        while let consumer = bodyConsumer, !bodyPaused, parser.bufferedByteCount > 0 || parser.streamedBodyRemaining == 0 {
            guard server.budget.hasRoom(budget) else { break }
            server.budget.spend(budget)
            bodyLastByteMs = server.now
            let piece = parser.takeStreamedBody(maxBytes: Self.streamedAnswerPieceBytes)
            if !piece.isEmpty { consumer.consume(piece) }
            if parser.streamedBodyRemaining == 0 {
                bodyConsumer = nil
                consumer.finished()
                break
            }
            if piece.isEmpty { break }
        }
        updateReading()
    }

    /// Answers with `head` and then `length` body bytes that `read` delivers piece by piece,
    /// each asked for once the client has read most of the one before (memory stays at a
    /// piece or two whatever the size).
    func respondStreaming(_ head: HTTPResponse, length: Int, keepAlive: Bool, headOnly: Bool,
                          read: @escaping (_ offset: Int, _ maxBytes: Int, _ deliver: @escaping ([UInt8]?) -> Void) -> Void) {
        guard answering, !closing else { return }
        guard !headOnly, length > 0, head.status != 304 else {
            var response = head
            response.headers.set("Access-Control-Allow-Origin", "*")
            tcp.write(response.serializeHead(contentLength: length, keepAlive: keepAlive))
            return finishAnswer(status: head.status, keepAlive: keepAlive)
        }
        var response = head
        response.headers.set("Access-Control-Allow-Origin", "*")
        tcp.write(response.serializeHead(contentLength: length, keepAlive: keepAlive))
        server.metrics.httpRequests += 1
        bodySource = BodySource(read: read, length: length, keepAlive: keepAlive)
        pumpAnswer()
    }

    private func pumpAnswer() {
        while !closing, var source = bodySource, !source.waiting, source.sent < source.length,
              tcp.pendingWriteBytes < Self.streamedAnswerHighWaterBytes {
            source.waiting = true
            bodySource = source
            let want = min(Self.streamedAnswerPieceBytes, source.length - source.sent)
            source.read(source.sent, want) { [weak self] bytes in
                guard let self, !closing, var source = bodySource else { return }
                guard let bytes, !bytes.isEmpty, bytes.count <= want else {
                    closing = true
                    bodySource = nil
                    return tcp.close()
                }
                tcp.write(bytes)
                source.sent += bytes.count
                source.waiting = false
                bodySource = source
                if source.sent == source.length {
                    bodySource = nil
                    answering = false
                    idleSinceMs = server.now
                    if !source.keepAlive {
                        closing = true
                        return tcp.close()
                    }
                    if parser.bufferedByteCount > 0 { requestStartedMs = server.now }
                    return parseRequests()
                }
                pumpAnswer()
            }
        }
    }

    private func finishAnswer(status: Int, keepAlive: Bool) {
        server.metrics.httpRequests += 1
        if status >= 400 { server.metrics.httpErrors += 1 }
        answering = false
        idleSinceMs = server.now
        if !keepAlive {
            closing = true
            tcp.close()
            return
        }
        if parser.bufferedByteCount > 0 { requestStartedMs = server.now }
        parseRequests()
    }

    /// Writes the answer to the request being answered, then reads the next one.
    func respond(_ response: HTTPResponse, keepAlive: Bool, head: Bool = false) {
        guard answering, !closing else { return }
        // A streamed body not read to its end cannot be skipped cheaply: the connection ends.
        let keepAlive = keepAlive && parser.streamedBodyRemaining == 0
        if let consumer = bodyConsumer {
            // Answered before the body's end (a stalled upload): what was taken is dropped.
            bodyConsumer = nil
            consumer.aborted()
        }
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
        } else if bodyConsumer != nil {
            wanted = !budget.isWaiting && !bodyPaused
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
        } else if bodySource != nil {
            pumpAnswer()
        } else {
            parseRequests()
        }
        updateReading()
    }

    /// A later turn gave the connection a new share.
    private func resumeAfterBudget() {
        guard !closing else { return }
        if let webSocket { webSocket.resumeReading() } else if bodyConsumer != nil { drainBody() } else { parseRequests() }
        updateReading()
    }

    /// Closes slow or idle HTTP clients (the WebSocket session times itself).
    func sweep(now: Int64) {
        if bodyConsumer != nil, !bodyPaused, !closing, now - bodyLastByteMs > ClientServer.requestTimeoutMs {
            return respond(Reply.error(status: 408, code: "bad_request", message: "the upload stalled"), keepAlive: false)
        }
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
        bodySource = nil
        if let consumer = bodyConsumer {
            bodyConsumer = nil
            consumer.aborted()
        }
        server.budget.forget(budget)
        webSocket?.closed()
        server.removed(self)
    }
}
