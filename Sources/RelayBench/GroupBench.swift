import JSON
import Net

/// `relay-bench group`: N users, one group of all of them, a WebSocket each (member k on node
/// k mod n), S senders sending M messages in all to the group. Phases: signup → create the
/// group (and add members past the creation limit) → connect (every socket has its `synced`)
/// → settle → warm-up (every member has the warm-up messages, so every node's directory knows
/// every member) → send → drain → done. Loop thread only.
final class GroupBench {
    struct Settings {
        var nodes: [Endpoint]
        var members: Int
        var senders: Int
        var messages: Int
        var warmup: Int
        var window: Int
        var bodyBytes: Int
        var timeoutS: Double
        var drainS: Double
        var settleMs: Int
        /// WebSocket handshakes (up to `synced`) in flight at once: a thousand at once make the
        /// nodes answer some upgrades with 408 or `unavailable`.
        var connectConcurrency: Int
        var signupConcurrency: Int
        var prefix: String
        /// The servers whose CPU is summed over the measured phase.
        var serverPIDs: [Int32]
        /// Members named in `POST /v1/groups` besides the creator (at most
        /// `maxOthersAtCreation`); the rest are added one by one.
        var othersAtCreation: Int
    }

    /// `POST /v1/groups` takes at most this many other members; the rest are added one by one.
    static let maxOthersAtCreation = 256

    enum Phase {
        case signingUp, creating, connecting, settling, warmingUp, sending, draining(TimerID), done
    }

    struct Outcome {
        var ledger: GroupLedger
        var signup: SignupRunner.Outcome?
        var groupID: String?
        var createMicros: UInt64 = 0
        /// Members added through `POST /v1/groups/{id}/members` after the creation.
        var membersAdded = 0
        var connectMicros: UInt64 = 0
        var warmupMicros: UInt64 = 0
        /// Server CPU seconds (all pids) from the start of the measured phase to its end.
        var serverMeasuredCPUSeconds: Double?
        /// The bench's own CPU over the same span: it shares the cores with the nodes.
        var benchMeasuredCPUSeconds: Double?
        var lost = 0
        var warmupLost = 0
        var aborted: String?
        var drainTimedOut = false
        /// The warm-up did not reach every member within its time.
        var warmupTimedOut = false
        /// Connects refused and retried, and the first one's reason.
        var connectRetries = 0
        var firstConnectRetry: String?
    }

    let loop: EventLoop
    let settings: Settings
    private var phase: Phase = .signingUp
    private var outcome: Outcome
    private var completion: ((Outcome) -> Void)?
    private var signupRunner: SignupRunner?
    private var names: [String] = []
    private var tokens: [String] = []
    private var members: [GroupMember] = []
    private var ready = 0
    private var nextToConnect = 0
    private var phaseStartMicros: UInt64 = 0
    private var serverAtStart: [Double?] = []
    private var benchAtStart: Double?
    private var timers: [TimerID] = []
    private var clients: [HTTPClient] = []

    init(loop: EventLoop, settings: Settings) {
        self.loop = loop
        self.settings = settings
        outcome = Outcome(ledger: GroupLedger(members: settings.members, senders: settings.senders,
                                              warmup: settings.warmup, messages: settings.messages))
    }

    func start(completion: @escaping (Outcome) -> Void) {
        self.completion = completion
        timers.append(loop.schedule(afterMs: Int64(settings.timeoutS * 1_000)) { [weak self] in
            self?.abort("overall timeout of \(self?.settings.timeoutS ?? 0) s")
        })
        names = (0..<settings.members).map { "\(settings.prefix)-m\($0)" }
        let runner = SignupRunner(loop: loop, nodes: settings.nodes, names: names, concurrency: settings.signupConcurrency)
        signupRunner = runner
        runner.start { [weak self] result in self?.signedUp(result) }
    }

    // MARK: Setup

    private func signedUp(_ result: SignupRunner.Outcome) {
        outcome.signup = result
        signupRunner = nil
        guard case .signingUp = phase else { return }
        guard result.succeeded == names.count else {
            return abort("signup failed for \(names.count - result.succeeded) of \(names.count) users: \(result.failures)")
        }
        tokens = result.tokens.map { $0 ?? "" }
        phase = .creating
        phaseStartMicros = MonotonicClock.nowMicros()
        let client = HTTPClient(loop: loop, endpoint: settings.nodes[0])
        clients = [client]
        let others = Array(names[1..<min(names.count, settings.othersAtCreation + 1)])
        let body: JSON = ["title": .string("bench \(settings.prefix)"), "members": .array(others.map(JSON.string))]
        client.request("POST", "/v1/groups", token: tokens[0], body: Array(body.serialized().utf8)) { [weak self] result in
            guard let self else { return }
            switch result {
            case .success(let reply) where reply.status == 201:
                guard let id = (try? JSON.parse(reply.body))?["conversation_id"]?.stringValue else {
                    return abort("POST /v1/groups: 201 without a conversation_id")
                }
                outcome.groupID = id
                addMembers(from: settings.othersAtCreation + 1)
            case .success(let reply):
                abort("POST /v1/groups: HTTP \(reply.status) \(String(decoding: reply.body, as: UTF8.self))")
            case .failure(let error):
                abort("POST /v1/groups: \(error)")
            }
        }
    }

    /// Adds members `from...` one at a time (the creator is the group's admin).
    private func addMembers(from index: Int) {
        guard case .creating = phase, let id = outcome.groupID else { return }
        guard index < names.count else { return connect(id) }
        let body: JSON = ["user": .string(names[index])]
        clients[0].request("POST", "/v1/groups/\(id)/members", token: tokens[0], body: Array(body.serialized().utf8)) { [weak self] result in
            guard let self else { return }
            switch result {
            case .success(let reply) where reply.status == 204:
                addMembers(from: index + 1)
            case .success(let reply):
                abort("adding \(names[index]): HTTP \(reply.status) \(String(decoding: reply.body, as: UTF8.self))")
            case .failure(let error):
                abort("adding \(names[index]): \(error)")
            }
        }
    }

    private func connect(_ groupID: String) {
        clients.forEach { $0.close() }
        clients = []
        let now = MonotonicClock.nowMicros()
        outcome.createMicros = now - phaseStartMicros
        outcome.membersAdded = max(0, names.count - 1 - settings.othersAtCreation)
        phaseStartMicros = now
        phase = .connecting
        var senderNames: [String: Int] = [:]
        for sender in 0..<settings.senders { senderNames[names[sender]] = sender }
        for index in 0..<settings.members {
            let endpoint = settings.nodes[index % settings.nodes.count]
            let target = "/v1/ws?token=\(tokens[index])&device=bench"
            let member = GroupMember(index: index, user: names[index], makeSocket: { [loop] in
                                         WebSocketClient(loop: loop, endpoint: endpoint, target: target, seed: UInt64.random(in: .min ... .max)) },
                                     senderIndex: index < settings.senders ? index : nil, ledger: outcome.ledger,
                                     groupID: groupID, senderNames: senderNames, bodyBytes: settings.bodyBytes) { [weak self] delay, fn in
                _ = self?.loop.schedule(afterMs: Int64((delay + 999) / 1_000), fn)
            }
            member.onReady = { [weak self] in self?.memberReady() }
            member.onProgress = { [weak self] in self?.progressed() }
            members.append(member)
        }
        nextToConnect = min(settings.connectConcurrency, members.count)
        for member in members.prefix(nextToConnect) { member.connect(wire: wire) }
    }

    /// The callbacks of a member's current socket.
    private func wire(_ member: GroupMember) {
        member.socket.onText = { [unowned member] text in member.received(text) }
        member.socket.onClose = { [weak self, unowned member] why in self?.disconnected(member, why) }
    }

    /// A node may refuse a connect under load (408 on the upgrade, 1011 "could not load
    /// conversations" after an `unavailable`): a client reconnects, and so does the bench.
    static let connectAttempts = 5

    private func memberReady() {
        guard case .connecting = phase else { return }
        ready += 1
        if nextToConnect < members.count {
            members[nextToConnect].connect(wire: wire)
            nextToConnect += 1
        }
        guard ready == members.count else { return }
        outcome.connectMicros = MonotonicClock.nowMicros() - phaseStartMicros
        // Presence reaches the other nodes' directories asynchronously; the warm-up then
        // proves it did (it waits for every member to get the warm-up messages).
        phase = .settling
        timers.append(loop.schedule(afterMs: Int64(settings.settleMs)) { [weak self] in self?.warmUp() })
    }

    private func warmUp() {
        guard case .settling = phase else { return }
        phase = .warmingUp
        phaseStartMicros = MonotonicClock.nowMicros()
        if settings.warmup == 0 { return startSending() }
        // A member the warm-up never reaches is reported lost; the run goes on after drain-s.
        timers.append(loop.schedule(afterMs: Int64(settings.drainS * 1_000) + Int64(settings.warmup) * 1_000) { [weak self] in
            guard let self, case .warmingUp = phase else { return }
            outcome.warmupTimedOut = true
            startSending()
        })
        members[0].warmUp()
    }

    private func startSending() {
        outcome.warmupMicros = MonotonicClock.nowMicros() - phaseStartMicros
        serverAtStart = settings.serverPIDs.map { ProcessStats.read(pid: $0).cpuSeconds }
        benchAtStart = ProcessStats.current().cpuSeconds
        phase = .sending
        for member in members { member.start(window: settings.window) }
        progressed()
    }

    // MARK: Progress

    private var sendersSettled: Bool { members.prefix(settings.senders).allSatisfy(\.isSettled) }

    private func progressed() {
        let ledger = outcome.ledger
        switch phase {
        case .warmingUp:
            if members[0].inFlight == 0, ledger.sent >= ledger.warmup, ledger.outstanding == 0 { startSending() }
        case .sending:
            guard sendersSettled else { return }
            if ledger.outstanding == 0 { return finish() }
            phase = .draining(loop.schedule(afterMs: Int64(settings.drainS * 1_000)) { [weak self] in
                self?.outcome.drainTimedOut = true
                self?.finish()
            })
        case .draining:
            if ledger.outstanding == 0 { finish() }
        case .signingUp, .creating, .connecting, .settling, .done:
            break
        }
    }

    private func disconnected(_ member: GroupMember, _ why: String) {
        let ledger = outcome.ledger
        if case .connecting = phase, !member.isReady, member.connectAttempts < Self.connectAttempts {
            outcome.connectRetries += 1
            if outcome.firstConnectRetry == nil { outcome.firstConnectRetry = "\(member.user): \(why)" }
            timers.append(loop.schedule(afterMs: 200 * Int64(member.connectAttempts)) { [weak self, unowned member] in
                guard let self, case .connecting = phase else { return }
                member.connect(wire: wire)
            })
            return
        }
        ledger.disconnects += 1
        if ledger.firstDisconnect == nil { ledger.firstDisconnect = "\(member.user): \(why)" }
        switch phase {
        case .signingUp, .creating, .connecting, .settling:
            abort("a WebSocket failed while connecting: \(why)")
        case .warmingUp, .sending, .draining:
            member.abandonInFlight()
            progressed()
        case .done:
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
        let measured: Bool
        switch phase {
        case .sending, .draining: measured = true
        default: measured = false
        }
        phase = .done
        timers.forEach(loop.cancel)
        if measured, let start = benchAtStart, let end = ProcessStats.current().cpuSeconds {
            outcome.benchMeasuredCPUSeconds = end - start
        }
        if measured, !settings.serverPIDs.isEmpty {
            var sum = 0.0
            for (pid, start) in zip(settings.serverPIDs, serverAtStart) {
                guard let start, let end = ProcessStats.read(pid: pid).cpuSeconds else { continue }
                sum += end - start
            }
            outcome.serverMeasuredCPUSeconds = sum
        }
        let ledger = outcome.ledger
        outcome.warmupLost = ledger.lost(in: 0..<ledger.warmup)
        outcome.lost = ledger.lost(in: ledger.warmup..<ledger.total)
        signupRunner = nil
        clients.forEach { $0.close() }
        for member in members {
            member.stop()
            member.socket.close()
        }
        let callback = completion
        completion = nil
        callback?(outcome)
    }
}
