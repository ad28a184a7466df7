import Net

/// `relay-bench chat`: 2N users, a WebSocket each spread round-robin over the nodes, N
/// senders each sending M messages to their partner. Phases: signup → connect (every socket
/// has its `synced`) → send → drain (the last deliveries) → done. Loop thread only.
final class ChatBench {
    struct Settings {
        var nodes: [Endpoint]
        var pairs: Int
        var warmup: Int
        var messages: Int
        var ratePerSender: Double?
        var window: Int
        var bodyBytes: Int
        var durationS: Double?
        var timeoutS: Double
        /// After the last ack, how long to wait for deliveries still on their way.
        var drainS: Double
        var receiptEvery: Int
        var signupConcurrency: Int
        var prefix: String
        /// The server to sample around the measured phase (its CPU then), if known.
        var serverPID: Int32?
    }

    enum Phase {
        case signingUp
        case connecting(ready: Int)
        case warmingUp(remaining: Int)
        case sending
        case draining(TimerID)
        case done
    }

    struct Outcome {
        var stats: ChatStats
        var signup: SignupRunner.Outcome?
        var connectMicros: UInt64 = 0
        var warmupMicros: UInt64 = 0
        /// Server CPU seconds from the end of the warm-up to the end of the run.
        var serverMeasuredCPUSeconds: Double?
        var lost = 0
        var seqMismatches = 0
        /// Why the run ended early, if it did (timeout, failed signup or connect).
        var aborted: String?
        var drainTimedOut = false
    }

    let loop: EventLoop
    let settings: Settings
    private var phase: Phase = .signingUp
    private var pairs: [ChatPair] = []
    private var outcome = Outcome(stats: ChatStats())
    private var completion: ((Outcome) -> Void)?
    private var signupRunner: SignupRunner?
    private var connectStartMicros: UInt64 = 0
    private var warmupStartMicros: UInt64 = 0
    private var serverAtStart: ProcessStats?
    private var timers: [TimerID] = []

    init(loop: EventLoop, settings: Settings) {
        self.loop = loop
        self.settings = settings
    }

    func start(completion: @escaping (Outcome) -> Void) {
        self.completion = completion
        timers.append(loop.schedule(afterMs: Int64(settings.timeoutS * 1_000)) { [weak self] in
            self?.abort("overall timeout of \(self?.settings.timeoutS ?? 0) s")
        })
        var names: [String] = []
        for index in 0..<settings.pairs {
            names.append("\(settings.prefix)-a\(index)")
            names.append("\(settings.prefix)-b\(index)")
        }
        let runner = SignupRunner(loop: loop, nodes: settings.nodes, names: names, concurrency: settings.signupConcurrency)
        signupRunner = runner
        runner.start { [weak self] result in self?.signedUp(names, result) }
    }

    private func signedUp(_ names: [String], _ result: SignupRunner.Outcome) {
        outcome.signup = result
        signupRunner = nil
        guard case .signingUp = phase else { return }
        guard result.succeeded == names.count else {
            return abort("signup failed for \(names.count - result.succeeded) of \(names.count) users: \(result.failures)")
        }
        phase = .connecting(ready: 0)
        connectStartMicros = MonotonicClock.nowMicros()
        let interval = settings.ratePerSender.map { UInt64(1_000_000 / $0) }
        let plan = ChatPair.Plan(warmup: settings.warmup, messages: settings.messages, window: settings.window, intervalMicros: interval,
                                 bodyBytes: settings.bodyBytes, receiptEvery: settings.receiptEvery)
        var seeds = SystemRandomNumberGenerator()
        for index in 0..<settings.pairs {
            let pair = ChatPair(senderName: names[2 * index], recipientName: names[2 * index + 1], plan: plan,
                                stats: outcome.stats) { [weak self] delay, fn in
                _ = self?.loop.schedule(afterMs: Int64((delay + 999) / 1_000), fn)
            }
            // User k is on node k mod n: on a cluster, partners sit on different nodes.
            let sender = socket(user: 2 * index, token: result.tokens[2 * index] ?? "", seed: seeds.next())
            let recipient = socket(user: 2 * index + 1, token: result.tokens[2 * index + 1] ?? "", seed: seeds.next())
            pair.sender = sender
            pair.recipient = recipient
            sender.onText = { [unowned pair] text in pair.senderEvent(text) }
            recipient.onText = { [unowned pair] text in pair.recipientEvent(text) }
            sender.onClose = { [weak self, unowned pair] why in self?.disconnected(pair, sender: true, why) }
            recipient.onClose = { [weak self, unowned pair] why in self?.disconnected(pair, sender: false, why) }
            pair.onReady = { [weak self] in self?.socketReady() }
            pair.onProgress = { [weak self] in self?.progressed() }
            pair.onWarm = { [weak self] in self?.pairWarm() }
            pairs.append(pair)
        }
        for pair in pairs {
            pair.sender?.connect()
            pair.recipient?.connect()
        }
    }

    private func socket(user: Int, token: String, seed: UInt64) -> WebSocketClient {
        WebSocketClient(loop: loop, endpoint: settings.nodes[user % settings.nodes.count],
                        target: "/v1/ws?token=\(token)&device=bench", seed: seed)
    }

    private func socketReady() {
        guard case .connecting(let ready) = phase else { return }
        guard ready + 1 == 2 * settings.pairs else {
            phase = .connecting(ready: ready + 1)
            return
        }
        let now = MonotonicClock.nowMicros()
        outcome.connectMicros = now - connectStartMicros
        phase = .warmingUp(remaining: pairs.count)
        warmupStartMicros = now
        for pair in pairs { pair.warmUp() }
    }

    private func pairWarm() {
        guard case .warmingUp(let remaining) = phase else { return }
        guard remaining == 1 else {
            phase = .warmingUp(remaining: remaining - 1)
            return
        }
        let now = MonotonicClock.nowMicros()
        outcome.warmupMicros = now - warmupStartMicros
        serverAtStart = settings.serverPID.map(ProcessStats.read)
        phase = .sending
        if let duration = settings.durationS {
            timers.append(loop.schedule(afterMs: Int64(duration * 1_000)) { [weak self] in
                self?.pairs.forEach { $0.stop() }
                self?.progressed()
            })
        }
        // Spread the senders over one interval so paced runs do not send in lockstep.
        let interval = settings.ratePerSender.map { 1_000_000 / $0 } ?? 0
        for (index, pair) in pairs.enumerated() {
            pair.start(atMicros: now, offsetMicros: UInt64(interval * Double(index) / Double(pairs.count)))
        }
        progressed()
    }

    private func disconnected(_ pair: ChatPair, sender: Bool, _ why: String) {
        let stats = outcome.stats
        stats.disconnects += 1
        if stats.firstDisconnect == nil { stats.firstDisconnect = "\(sender ? pair.senderName : pair.recipientName): \(why)" }
        switch phase {
        case .signingUp, .connecting, .warmingUp:
            abort("a WebSocket failed while connecting: \(why)")
        case .sending, .draining:
            if sender { pair.abandonInFlight() }
            progressed()
        case .done:
            break
        }
    }

    private func progressed() {
        switch phase {
        case .sending:
            guard pairs.allSatisfy(\.isSettled) else { return }
            if pairs.allSatisfy(\.isDelivered) { return finish() }
            phase = .draining(loop.schedule(afterMs: Int64(settings.drainS * 1_000)) { [weak self] in
                self?.outcome.drainTimedOut = true
                self?.finish()
            })
        case .draining:
            if pairs.allSatisfy(\.isDelivered) { finish() }
        case .signingUp, .connecting, .warmingUp, .done:
            break
        }
    }

    private func abort(_ why: String) {
        if case .done = phase { return }
        outcome.aborted = why
        finish()
    }

    private func finish() {
        if case .draining(let timer) = phase { loop.cancel(timer) }
        if case .done = phase { return }
        phase = .done
        timers.forEach(loop.cancel)
        if let pid = settings.serverPID, let start = serverAtStart?.cpuSeconds, let end = ProcessStats.read(pid: pid).cpuSeconds {
            outcome.serverMeasuredCPUSeconds = end - start
        }
        outcome.lost = pairs.reduce(0) { $0 + $1.lost }
        outcome.seqMismatches = pairs.reduce(0) { $0 + $1.seqMismatches() }
        for pair in pairs {
            pair.stop()
            pair.sender?.close()
            pair.recipient?.close()
        }
        let callback = completion
        completion = nil
        callback?(outcome)
    }
}
