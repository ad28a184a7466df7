/// One message a client wants stored, from its first attempt until it is acked or given up.
struct ClientSend {
    enum Status: Equatable {
        case notStarted
        case inFlight(node: Int)
        case backingOff
        case acked(seq: Int64, node: Int)
        case gaveUp
    }

    let id: Int
    let conversation: Int
    let clientID: Int
    let startMs: Int64
    var attempt = 0
    var firstAttemptMs: Int64?
    var status = Status.notStarted

    var isDone: Bool {
        switch status {
        case .acked, .gaveUp: return true
        default: return false
        }
    }
}

/// Clients: each send goes to a random node that is up (a client cannot connect to a dead
/// one), and on `unavailable` or silence is sent again with the same client_id, possibly
/// elsewhere, until acked or given up. Every ack goes into the ledger, which checks it
/// against the earlier ones.
extension ReplicationSimulation {
    func scheduleWorkload() {
        for _ in 0..<settings.sends {
            let start = 1 + Int64(clientRng.below(Int(max(1, settings.faultPhaseMs - 1))))
            let conversation = 1 + clientRng.below(settings.conversations)
            addSend(conversation: conversation, atMs: start)
        }
    }

    @discardableResult
    private func addSend(conversation: Int, atMs: Int64) -> Int {
        let id = clients.count
        clients.append(ClientSend(id: id, conversation: conversation, clientID: id + 1, startMs: atMs))
        stats.sends += 1
        queue.schedule(.clientAttempt(sendID: id), at: .init(ms: max(atMs, nowMs)))
        return id
    }

    /// A client sends one message to `conversation` now (to `node` first, if given; retries
    /// go to random nodes). Returns the send's id.
    @discardableResult
    public func submit(conversation: Int, to node: Int? = nil) -> Int {
        let id = addSend(conversation: conversation, atMs: nowMs)
        if let node { preferredNode[id] = node }
        return id
    }

    func clientAttempt(_ id: Int) {
        var send = clients[id]
        guard !send.isDone else { return }
        if let first = send.firstAttemptMs, nowMs - first > settings.clientGiveUpMs {
            send.status = .gaveUp
            clients[id] = send
            stats.gaveUp += 1
            return note(nil, "client gives up send \(id) (c\(send.clientID) conv\(send.conversation)) after \(send.attempt) attempts")
        }
        let up = nodes.indices.filter { !nodes[$0].isCrashed }
        let choice = preferredNode.removeValue(forKey: id).flatMap { up.contains($0) ? $0 : nil }
        guard let node = choice ?? (up.isEmpty ? nil : up[clientRng.below(up.count)]) else {
            return schedule(.clientAttempt(sendID: id), afterMs: settings.clientRetryPauseMs)
        }
        send.attempt += 1
        send.firstAttemptMs = send.firstAttemptMs ?? nowMs
        send.status = .inFlight(node: node)
        clients[id] = send
        stats.attempts += 1
        let write = ClientWrite(sendID: id, attempt: send.attempt, conversation: send.conversation, clientID: send.clientID)
        detail(nil, "client: \(write) to \(names[node])")
        schedule(.clientArrives(node: node, life: nodes[node].life, write), afterMs: 1)
        schedule(.clientTimeout(sendID: id, attempt: send.attempt), afterMs: settings.clientTimeoutMs)
    }

    func clientAnswered(_ write: ClientWrite, _ outcome: WriteOutcome, node: Int) {
        var send = clients[write.sendID]
        switch outcome {
        case .ack(let seq):
            detail(nil, "client: \(write) acked seq \(seq) by \(names[node])")
            if let v = ledger.record(.init(conversation: write.conversation, clientID: write.clientID, seq: seq, node: node, atMs: nowMs)) {
                record(v)
            }
            if case .acked = send.status { return }
            if send.status == .gaveUp { stats.gaveUp -= 1 }
            send.status = .acked(seq: seq, node: node)
            stats.acked += 1
        case .unavailable(let why, let after):
            detail(nil, "client: \(write) unavailable from \(names[node]): \(why)")
            guard write.attempt == send.attempt, case .inFlight = send.status else { return }
            send.status = .backingOff
            let pause = max(after, settings.clientRetryPauseMs) + Int64(clientRng.below(Int(settings.clientRetryPauseMs) + 1))
            schedule(.clientAttempt(sendID: write.sendID), afterMs: pause)
        }
        clients[write.sendID] = send
    }

    func clientTimedOut(_ id: Int, attempt: Int) {
        var send = clients[id]
        guard attempt == send.attempt, case .inFlight(let node) = send.status else { return }
        detail(nil, "client: send \(id) attempt \(attempt) got no answer from \(names[node])")
        send.status = .backingOff
        clients[id] = send
        clientAttempt(id)
    }

    // MARK: Queries

    /// The send's ack (seq and the node that gave it), if it got one.
    public func ack(of sendID: Int) -> (seq: Int64, node: String)? {
        guard case .acked(let seq, let node) = clients[sendID].status else { return nil }
        return (seq, names[node])
    }

    public func isDone(_ sendID: Int) -> Bool { clients[sendID].isDone }

    public func attempts(of sendID: Int) -> Int { clients[sendID].attempt }

    /// Sends neither acked nor given up.
    public var openSends: Int { clients.lazy.filter { !$0.isDone }.count }

    /// Every ack received so far, in arrival order.
    public var acks: [(conversation: Int, clientID: Int, seq: Int64, node: String)] {
        ledger.all.map { ($0.conversation, $0.clientID, $0.seq, names[$0.node]) }
    }
}
