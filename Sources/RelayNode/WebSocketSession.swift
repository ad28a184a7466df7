import Chat
import HTTPWire
import JSON
import Net
import Store

/// A client's WebSocket (PROTOCOL.md "WebSocket"): `hello`, then the backlog above the
/// user's delivered cursors, then live events, with the client's commands in between.
final class WebSocketSession {
    /// Bound on requests of one connection awaiting their answers; reading pauses above it.
    static let maxInFlight = 256
    /// A client that lets this much output pile up unread is dropped (it can reconnect and sync).
    static let maxPendingWriteBytes = 8 * 1024 * 1024
    /// Backlog pages are fetched while less than this is waiting to be written.
    static let backlogHighWaterBytes = 256 * 1024
    /// Messages per backlog page (the history page limit).
    static let backlogPageSize = 100
    /// Live events held while the connect backlog streams; past it the client must reconnect.
    static let maxQueuedEvents = 10_000
    /// Conversations one `sync` may name.
    static let maxSyncConversations = 10_000
    /// Conversations of `sync`s not yet streamed, all together: one full-size sync at a time;
    /// a client over it gets `rate_limited` and retries once its earlier syncs are `synced`.
    static let maxPendingSyncConversations = 10_000
    /// An idle connection is pinged after this long without input...
    static let pingAfterMs: Int64 = 25_000
    /// ...and closed when nothing at all arrived for this long.
    static let deadAfterMs: Int64 = 60_000
    /// Frames: a message body is at most 64 KiB, escaped JSON at most ~6 times that.
    static let limits = WebSocketLimits(maxFrameBytes: 512 * 1024, maxMessageBytes: 512 * 1024)

    /// A command's handler: a method of `WebSocketSession` (`WebSocketSession.onSend`).
    typealias CommandHandler = @Sendable (WebSocketSession) -> (Command) -> Void

    /// Every client command by its `type` (PROTOCOL.md "WebSocket"). Adding one is a line
    /// here and its handler in its feature's file; an unknown `type` gets `bad_request`.
    /// Built when the node starts (`HTTPAPI.init`): a `type` listed twice stops it there.
    static let commands: [String: CommandHandler] = Dictionary(uniqueKeysWithValues: [
        // Messaging: WebSocketSession+Messaging.swift
        ("send", WebSocketSession.onSend),
        ("receipt", WebSocketSession.onReceipt),
        ("typing", WebSocketSession.onTyping),
        // The session's own, below: catching up, and the application-level ping
        ("sync", WebSocketSession.onSync),
        ("ping", WebSocketSession.onPing),
    ])

    /// One command frame as its handler sees it.
    struct Command {
        let fields: JSONObject
        /// The frame's `client_id`, echoed by the errors it causes.
        let clientID: String?
    }

    let ref: ConnectionRef
    let session: Session
    let device: String
    /// Whether the device has its own cursors (Devices.swift): its receipts move them.
    private(set) var tracksDevice = false
    unowned let connection: ClientConnection
    unowned let node: Node

    private enum State {
        /// Loading the conversations for `hello`: the client's frames wait unread, so
        /// `hello` is always the first thing it gets and the first thing it answers.
        case starting(buffered: [UInt8])
        /// Sending the backlog; live events wait in `queued` (in order).
        case catchingUp
        case live
        case closed
    }
    private var state: State = .starting(buffered: [])
    /// Live events that arrived before the connect backlog was out, and whether more came
    /// than `maxQueuedEvents` (then the client is asked to reconnect).
    private var queued: [OutboundEvent] = []
    private var queueOverflowed = false
    private var reader = WebSocketReader(limits: WebSocketSession.limits, role: .server)
    private var inFlight = 0
    /// Reading stopped at `maxInFlight` and resumes at half of it.
    private var inFlightPaused = false
    /// Conversations named by `sync`s that are not finished.
    private var pendingSyncConversations = 0
    private var lastInputMs: Int64
    private var pingOutstanding = false

    /// Backlog streaming: jobs run one at a time, one page in flight.
    private struct Range {
        var conversationID: String
        var after: Int64
        /// Stop after this seq (the connect backlog); nil: until there is no more (sync).
        var upTo: Int64?
    }
    private struct Job {
        var ranges: [Range]
        var done: [String] = []
        let finish: (_ synced: [String]) -> Void
    }
    private var jobs: [Job] = []
    private var fetching = false
    /// The top seq the connect backlog streamed per conversation: queued live messages at or
    /// below it were already sent.
    private var streamedTop: [String: Int64] = [:]

    init(ref: ConnectionRef, session: Session, device: String, connection: ClientConnection, node: Node) {
        self.ref = ref
        self.session = session
        self.device = device
        self.connection = connection
        self.node = node
        lastInputMs = node.loop.nowMs
    }

    private var isOpen: Bool { if case .closed = state { false } else { true } }

    // MARK: Start: hello and the backlog

    func start(buffered: [UInt8]) {
        node.metrics.webSocketsOpened += 1
        node.registry.add(self)
        state = .starting(buffered: buffered)
        // Both reads run at once; `hello` goes when both are in.
        var prekeys: Int64?, conversations: Result<[ConversationSummary], ChatError>?
        let both = { [weak self] in
            guard let self, let prekeys, let conversations else { return }
            sendHello(conversations, prekeys: prekeys)
        }
        node.chat.prekeyCount(session, device: device) { result in
            prekeys = (try? result.get()) ?? 0
            both()
        }
        // The device is recorded first: its first sighting picks where its own backlog starts
        // (Devices.swift); if that fails the backlog follows the user's cursor.
        node.chat.deviceSeen(user: session.user, device: device, node: node.id, online: true) { [weak self] seen in
            guard let self, case .starting = state else { return }
            // Untracked (past the per-user bound) or not recorded: the user's cursor, as before.
            let firstSeen = (try? seen.get()).flatMap { $0 == DeviceLimits.untracked ? nil : $0 }
            tracksDevice = firstSeen != nil
            node.chat.conversations(session, device: tracksDevice ? device : nil, deviceFirstSeen: firstSeen ?? 0) { result in
                conversations = result
                both()
            }
        }
    }

    /// Sends `hello` and starts the backlog.
    private func sendHello(_ result: Result<[ConversationSummary], ChatError>, prekeys: Int64) {
        guard case .starting(let buffered) = state else { return }
        switch result {
        case .failure(let error):
            state = .catchingUp
            sendError(error, clientID: nil)
            close(code: 1011, reason: "could not load conversations")
        case .success(let list):
            let hello: JSONObject = [
                "type": "hello", "user": .string(session.user), "device": .string(device), "node": .string(node.id),
                "conversations": .array(list.map { EventJSON.summary($0, full: false) }),
                "one_time_prekeys": .int(prekeys),
            ]
            state = .catchingUp
            write(JSON.object(hello).serialized())
            let ranges = list.filter { $0.lastSeq > $0.delivered }
                .map { Range(conversationID: $0.conversationID, after: $0.delivered, upTo: $0.lastSeq) }
            for range in ranges { streamedTop[range.conversationID] = range.upTo }
            enqueue(Job(ranges: ranges) { [weak self] synced in
                self?.write(JSON.object(["type": "synced", "conversations": .array(synced.map { .string($0) })]).serialized())
                self?.goLive()
            })
            // Frames the client sent before `hello` are read now.
            if !buffered.isEmpty { buffered.withUnsafeBytes { received($0) } }
            connection.updateReading()
        }
    }

    /// Sends the live events that arrived during the backlog, minus those it already sent.
    private func goLive() {
        guard case .catchingUp = state else { return }
        if queueOverflowed {
            close(code: 1013, reason: "too many events while catching up; reconnect")
            return
        }
        state = .live
        let held = queued
        queued = []
        for event in held {
            if case .message(let id, let seq) = event.kind, let top = streamedTop[id], seq <= top { continue }
            write(event.text)
        }
        // Kept while live: a push can come after the backlog that already held its message
        // (forwarded from another node, or served in a later turn for a big group).
    }

    /// An event for this user from the registry.
    func deliver(_ event: OutboundEvent, frame: [UInt8]? = nil) {
        switch state {
        case .closed: return
        case .starting, .catchingUp:
            // Held until the backlog is out (a message it covers is skipped then).
            guard !queueOverflowed else { return }
            guard queued.count < Self.maxQueuedEvents else {
                queued = []
                queueOverflowed = true
                return
            }
            queued.append(event)
        case .live:
            if case .message(let id, let seq) = event.kind, let top = streamedTop[id], seq <= top { return }
            node.metrics.eventsPushed += 1
            if let frame { send(frame) } else { write(event.text) }
        }
    }

    private func enqueue(_ job: Job) {
        jobs.append(job)
        pump()
    }

    /// Fetches the next backlog page while the client keeps up; `drained` resumes it.
    private func pump() {
        while isOpen, !fetching, connection.tcp.pendingWriteBytes < Self.backlogHighWaterBytes, !jobs.isEmpty {
            guard let range = jobs[0].ranges.first else {
                let job = jobs.removeFirst()
                job.finish(job.done)
                continue
            }
            fetching = true
            let query = HistoryQuery(after: range.after, before: range.upTo.map { $0 + 1 }, limit: Self.backlogPageSize)
            node.chat.history(session, conversationID: range.conversationID, query: query) { [weak self] result in
                guard let self, isOpen else { return }
                fetching = false
                switch result {
                case .failure(let error):
                    var o = errorObject(error, clientID: nil)
                    o["conversation_id"] = .string(range.conversationID)
                    write(JSON.object(o).serialized())
                    jobs[0].ranges.removeFirst()
                case .success(let page):
                    for message in page.messages { write(EventJSON.messageEvent(message).text) }
                    if page.hasMore, let last = page.messages.last {
                        jobs[0].ranges[0].after = last.seq
                    } else {
                        jobs[0].done.append(range.conversationID)
                        jobs[0].ranges.removeFirst()
                    }
                }
                pump()
            }
        }
    }

    /// The socket's write queue emptied.
    func drained() {
        pump()
        readFrames()
    }

    // MARK: Input

    /// Whether the socket should be read now: not before `hello`, not while `maxInFlight`
    /// commands await answers, not while the client leaves `maxUnsentBytes` unread.
    var wantsInput: Bool {
        switch state {
        case .starting, .closed: return false
        case .catchingUp, .live:
            return !inFlightPaused && connection.tcp.pendingWriteBytes <= ClientConnection.maxUnsentBytes
        }
    }

    func received(_ bytes: UnsafeRawBufferPointer) {
        switch state {
        case .closed: return
        case .starting(var buffered):
            // Read in the same turn as the upgrade: kept for after `hello`.
            buffered.append(contentsOf: bytes)
            state = .starting(buffered: buffered)
            return
        case .catchingUp, .live: break
        }
        lastInputMs = node.loop.nowMs
        pingOutstanding = false
        reader.feed(bytes)
        readFrames()
    }

    /// The connection got a new share of a loop turn, or room to write: frames go on.
    func resumeReading() { readFrames() }

    /// Handles the frames the reader holds, each admitted by the loop turn's budget, while
    /// the connection may take more work.
    private func readFrames() {
        defer { connection.updateReading() }
        while isOpen, !inFlightPaused, connection.tcp.pendingWriteBytes <= ClientConnection.maxUnsentBytes,
              reader.bufferedByteCount > 0 {
            guard node.server.budget.hasRoom(connection.budget) else { return }
            let message: WebSocketMessage?
            do {
                message = try reader.next()
            } catch {
                node.metrics.badFrames += 1
                close(code: error.closeCode, reason: error.message)
                return
            }
            guard let message else { return }
            node.server.budget.spend(connection.budget)
            switch message {
            case .text(let text): dispatch(text)
            case .binary:
                node.metrics.badFrames += 1
                sendError(.badRequest("binary frames are not used: send JSON in text frames"), clientID: nil)
            case .ping(let payload): send(WebSocketWriter.pong(payload))
            case .pong: break
            case .close(let code, _):
                // RFC 6455 5.5.1: answer with a close, echoing the code, then close the TCP.
                close(code: code ?? 1000, reason: "")
            }
            if inFlight >= Self.maxInFlight { inFlightPaused = true }
        }
    }

    /// A handler whose answer comes later calls `startedRequest` before it asks and
    /// `finishedRequest` when the answer came: `maxInFlight` bounds what is in between.
    func startedRequest() { inFlight += 1 }

    func finishedRequest() {
        inFlight -= 1
        if inFlightPaused, inFlight < Self.maxInFlight / 2 {
            inFlightPaused = false
            readFrames()
        }
    }

    // MARK: Commands (the table is at the top; messaging's handlers are in +Messaging)

    /// A text frame: one JSON object with a `type`, handed to that type's handler.
    private func dispatch(_ text: String) {
        let json: JSON
        do { json = try JSON.parse(text) } catch {
            node.metrics.badFrames += 1
            return sendError(.badRequest("invalid JSON: \(error)"), clientID: nil)
        }
        guard let o = json.objectValue else { return sendError(.badRequest("a frame is one JSON object"), clientID: nil) }
        let clientID = o["client_id"]?.stringValue
        guard let type = o["type"]?.stringValue else { return sendError(.badRequest("`type` is required"), clientID: clientID) }
        guard let handler = Self.commands[type] else { return sendError(.badRequest("unknown type \(type)"), clientID: clientID) }
        handler(self)(Command(fields: o, clientID: clientID))
    }

    /// `ping`: answered at once, in order with the rest of the connection's output.
    func onPing(_ command: Command) {
        write(JSON.object(["type": "pong"]).serialized())
    }

    /// `sync`: every message after the client's seq in each named conversation, then `synced`.
    func onSync(_ command: Command) {
        let clientID = command.clientID
        guard let since = command.fields["since"]?.objectValue else {
            return sendError(.badRequest("`since` is an object of conversation id to seq"), clientID: clientID)
        }
        guard since.count <= Self.maxSyncConversations else {
            return sendError(.badRequest("at most \(Self.maxSyncConversations) conversations per sync"), clientID: clientID)
        }
        guard pendingSyncConversations + since.count <= Self.maxPendingSyncConversations else {
            return sendError(ChatError(.rateLimited, "earlier syncs are still streaming; wait for their `synced`",
                                       retryAfterMs: 1_000), clientID: clientID)
        }
        var ranges: [Range] = []
        for (id, value) in since {
            guard Identifiers.isValidConversation(id), let seq = value.intValue, seq >= 0 else {
                return sendError(.badRequest("`since` maps conversation ids to non-negative seqs"), clientID: clientID)
            }
            ranges.append(Range(conversationID: id, after: seq, upTo: nil))
        }
        pendingSyncConversations += ranges.count
        enqueue(Job(ranges: ranges) { [weak self] synced in
            guard let self else { return }
            pendingSyncConversations -= ranges.count
            write(JSON.object(["type": "synced", "conversations": .array(synced.map { .string($0) })]).serialized())
        })
    }

    // MARK: Output

    func write(_ text: String) { send(WebSocketWriter.text(text)) }

    /// Every frame but the final close goes out here, control frames too, so one bound
    /// covers them all: a client that leaves `maxPendingWriteBytes` unread is dropped.
    private func send(_ frame: [UInt8]) {
        guard isOpen else { return }
        connection.tcp.write(frame)
        // What this turn wrote is not offered to the kernel until the turn's end: count only
        // what earlier turns left unsent, so a burst to a client that reads is never a drop.
        if connection.tcp.pendingWriteBytes - connection.tcp.unflushedBytes > Self.maxPendingWriteBytes {
            node.metrics.slowClientsDropped += 1
            node.log.warn("dropping \(session.user)/\(device): \(connection.tcp.pendingWriteBytes) bytes unread")
            state = .closed
            node.registry.remove(self)
            connection.tcp.abort()
        }
    }

    private func errorObject(_ error: ChatError, clientID: String?) -> JSONObject {
        var o: JSONObject = ["type": "error", "code": .string(error.code.rawValue), "message": .string(error.message)]
        if let clientID { o["client_id"] = .string(clientID) }
        if let retry = error.retryAfterMs { o["retry_after_ms"] = .int(retry) }
        if let url = error.billingURL { o["billing_url"] = .string(url) }
        return o
    }

    func sendError(_ error: ChatError, clientID: String?) {
        write(JSON.object(errorObject(error, clientID: clientID)).serialized())
    }

    // MARK: Liveness and closing

    func sweep(now: Int64) {
        guard isOpen else { return }
        if now - lastInputMs > Self.deadAfterMs {
            close(code: 1001, reason: "no answer to pings")
        } else if now - lastInputMs > Self.pingAfterMs, !pingOutstanding {
            pingOutstanding = true
            send(WebSocketWriter.ping([]))
        }
    }

    /// Sends a close frame and closes the socket once it is written.
    func close(code: UInt16, reason: String) {
        guard isOpen else { return }
        state = .closed
        node.registry.remove(self)
        connection.tcp.write(WebSocketWriter.close(code: code, reason: reason))
        connection.close()
    }

    /// The socket closed (either side).
    func closed() {
        if isOpen {
            state = .closed
            node.registry.remove(self)
        }
        node.metrics.webSocketsClosed += 1
    }
}
