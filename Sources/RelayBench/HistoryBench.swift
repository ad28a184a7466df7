import JSON
import Net

/// `relay-bench history`: two users, M messages from one to the other over a WebSocket (to
/// fill the conversation), then `reads` history pages over `concurrency` keep-alive HTTP
/// connections, walking down from the newest page with `before` and starting over at the top.
/// Loop thread only.
final class HistoryBench {
    struct Settings {
        var nodes: [Endpoint]
        var messages: Int
        var pageSize: Int
        var reads: Int
        var concurrency: Int
        var timeoutS: Double
        var prefix: String
    }

    struct Outcome {
        var fillMicros: UInt64 = 0
        var filled = 0
        var readMicros: UInt64 = 0
        var reads = 0
        var messagesRead = 0
        var latency = LatencyHistogram()
        /// Pages whose size was not what the conversation holds below `before`.
        var wrongPages = 0
        var failures: [String: Int] = [:]
        var aborted: String?
    }

    let loop: EventLoop
    let settings: Settings
    private var outcome = Outcome()
    private var completion: ((Outcome) -> Void)?
    private var signupRunner: SignupRunner?
    private var sender: WebSocketClient?
    private var token = ""
    private var conversationID = ""
    private var fillStartMicros: UInt64 = 0
    private var sent = 0
    /// Fill sends kept unacknowledged: enough to hide the round trip, well under the server's
    /// 256 per connection.
    static let fillWindow = 64
    private var nextRead = 0
    private var readsDone = 0
    private var readStartMicros: UInt64 = 0
    private var clients: [HTTPClient] = []
    private var timeout: TimerID?
    private var done = false

    init(loop: EventLoop, settings: Settings) {
        self.loop = loop
        self.settings = settings
    }

    func start(completion: @escaping (Outcome) -> Void) {
        self.completion = completion
        timeout = loop.schedule(afterMs: Int64(settings.timeoutS * 1_000)) { [weak self] in
            self?.finish(aborted: "overall timeout of \(self?.settings.timeoutS ?? 0) s")
        }
        let names = ["\(settings.prefix)-a0", "\(settings.prefix)-b0"]
        conversationID = BenchNames.directConversation(names[0], names[1])
        let runner = SignupRunner(loop: loop, nodes: settings.nodes, names: names, concurrency: 2)
        signupRunner = runner
        runner.start { [weak self] result in
            guard let self else { return }
            signupRunner = nil
            guard let senderToken = result.tokens[0], let readerToken = result.tokens[1] else {
                return finish(aborted: "signup failed: \(result.failures)")
            }
            token = readerToken
            fill(senderToken: senderToken, recipient: names[1])
        }
    }

    private func fill(senderToken: String, recipient: String) {
        let socket = WebSocketClient(loop: loop, endpoint: settings.nodes[0],
                                     target: "/v1/ws?token=\(senderToken)&device=bench", seed: .random(in: 0...UInt64.max))
        sender = socket
        socket.onClose = { [weak self] why in self?.finish(aborted: "fill WebSocket closed: \(why)") }
        socket.onText = { [weak self] text in
            guard let self, let event = try? JSON.parse(text), let type = event["type"]?.stringValue else { return }
            switch type {
            case "synced":
                fillStartMicros = MonotonicClock.nowMicros()
                sendMore(socket, recipient)
            case "ack":
                outcome.filled += 1
                if outcome.filled == settings.messages { return filled(socket) }
                sendMore(socket, recipient)
            case "error":
                finish(aborted: "fill send refused: \(text)")
            default:
                break
            }
        }
        socket.connect()
    }

    private func sendMore(_ socket: WebSocketClient, _ recipient: String) {
        while sent < settings.messages, sent - outcome.filled < Self.fillWindow {
            socket.send(#"{"type":"send","client_id":"h\#(sent)","to":"\#(recipient)","kind":"text","body":"history message \#(sent)"}"#)
            sent += 1
        }
    }

    private func filled(_ socket: WebSocketClient) {
        outcome.fillMicros = MonotonicClock.nowMicros() - fillStartMicros
        socket.close()
        sender = nil
        readStartMicros = MonotonicClock.nowMicros()
        clients = (0..<max(1, min(settings.concurrency, settings.reads))).map {
            HTTPClient(loop: loop, endpoint: settings.nodes[$0 % settings.nodes.count])
        }
        for client in clients { read(on: client) }
    }

    /// Read i asks for the page below `before`, walking down the conversation and wrapping.
    private func read(on client: HTTPClient) {
        guard !done, nextRead < settings.reads else { return }
        let pagesPerWalk = (settings.messages + settings.pageSize - 1) / settings.pageSize
        let before = settings.messages + 1 - (nextRead % pagesPerWalk) * settings.pageSize
        let expected = min(settings.pageSize, before - 1)
        nextRead += 1
        let path = "/v1/conversations/\(conversationID)/messages?before=\(before)&limit=\(settings.pageSize)"
        let sentMicros = MonotonicClock.nowMicros()
        client.request("GET", path, token: token) { [weak self] result in
            guard let self, !done else { return }
            switch result {
            case .success(let reply) where reply.status == 200:
                outcome.latency.record(MonotonicClock.nowMicros() - sentMicros)
                let count = (try? JSON.parse(reply.body))?["messages"]?.arrayValue?.count ?? -1
                if count != expected { outcome.wrongPages += 1 }
                outcome.messagesRead += max(0, count)
            case .success(let reply):
                outcome.failures["HTTP \(reply.status)", default: 0] += 1
            case .failure(let error):
                outcome.failures[error.description, default: 0] += 1
            }
            readsDone += 1
            if readsDone == settings.reads {
                outcome.reads = readsDone
                outcome.readMicros = MonotonicClock.nowMicros() - readStartMicros
                return finish(aborted: nil)
            }
            read(on: client)
        }
    }

    private func finish(aborted: String?) {
        guard !done else { return }
        done = true
        if let timeout { loop.cancel(timeout) }
        outcome.aborted = aborted
        outcome.reads = readsDone
        if outcome.readMicros == 0, readStartMicros > 0 { outcome.readMicros = MonotonicClock.nowMicros() - readStartMicros }
        sender?.close()
        clients.forEach { $0.close() }
        let callback = completion
        completion = nil
        callback?(outcome)
    }
}
