/// One member's WebSocket in a `relay-bench group` run. Every member checks the group's
/// `message` events it gets (each bench message once, seq rising, never its own); a sender
/// also sends its share of the messages with at most `window` unacknowledged. Loop thread only.
final class GroupMember {
    let index: Int
    let user: String
    /// The current socket: a refused connect is retried on a new one (`reconnect`).
    private(set) var socket: WebSocketClient
    private let makeSocket: () -> WebSocketClient
    private(set) var connectAttempts = 0
    /// The sender number if this member sends (members 0..<S do), else nil.
    let senderIndex: Int?
    var onReady: (() -> Void)?
    /// After any ack, refusal or delivery: the bench's end-of-phase check.
    var onProgress: (() -> Void)?

    private let ledger: GroupLedger
    private let groupID: String
    private let senderNames: [String: Int]
    private let padding: String
    private let bodyBytes: Int
    private let schedule: (UInt64, @escaping () -> Void) -> Void
    /// Which messages this connection got, one bit each.
    private var seen: [UInt64]
    private var lastSeq: Int64 = 0
    private(set) var isReady = false

    // Sending.
    private var window = 1
    private var next = 0
    private var limit = 0
    private(set) var inFlight = 0
    private var stopped = false
    private var measuring = false

    init(index: Int, user: String, makeSocket: @escaping () -> WebSocketClient, senderIndex: Int?, ledger: GroupLedger, groupID: String,
         senderNames: [String: Int], bodyBytes: Int, schedule: @escaping (UInt64, @escaping () -> Void) -> Void) {
        self.index = index
        self.user = user
        self.makeSocket = makeSocket
        socket = makeSocket()
        self.senderIndex = senderIndex
        self.ledger = ledger
        self.groupID = groupID
        self.senderNames = senderNames
        self.bodyBytes = bodyBytes
        padding = String(repeating: "x", count: bodyBytes)
        self.schedule = schedule
        seen = Array(repeating: 0, count: (ledger.total + 63) / 64)
        if let senderIndex {
            next = ledger.firstOfSender[senderIndex]
        }
    }

    /// Opens the socket; `wire` sets its callbacks (each attempt has a new socket).
    func connect(wire: (GroupMember) -> Void) {
        if connectAttempts > 0 { socket = makeSocket() }
        connectAttempts += 1
        wire(self)
        socket.connect()
    }

    /// Nothing more to send and every send answered (true for non-senders).
    var isSettled: Bool {
        guard let senderIndex else { return true }
        return inFlight == 0 && (stopped || next == ledger.firstOfSender[senderIndex] + ledger.countOfSender[senderIndex])
    }

    /// Sends the warm-up messages one at a time (sender 0 only).
    func warmUp() {
        guard senderIndex == 0 else { return }
        window = 1
        limit = ledger.warmup
        pump()
    }

    /// Sends the measured messages.
    func start(window: Int) {
        guard let senderIndex else { return }
        measuring = true
        self.window = window
        limit = ledger.firstOfSender[senderIndex] + ledger.countOfSender[senderIndex]
        pump()
    }

    func stop() { stopped = true }

    /// The socket closed: what is in flight will not be answered.
    func abandonInFlight() {
        stopped = true
        inFlight = 0
    }

    private func pump() {
        while !stopped, inFlight < window, next < limit {
            let message = next
            next += 1
            inFlight += 1
            let now = MonotonicClock.nowMicros()
            ledger.sendMicros[message] = now
            if measuring, ledger.firstSendMicros == 0 { ledger.firstSendMicros = now }
            ledger.sent += 1
            socket.send(frame(message))
        }
    }

    private func frame(_ message: Int) -> String {
        let digits = String(message)
        let body = digits + padding.prefix(max(0, bodyBytes - digits.utf8.count))
        return #"{"type":"send","client_id":"c\#(message)","conversation_id":"\#(groupID)","kind":"text","body":"\#(body)"}"#
    }

    // MARK: Events

    func received(_ text: String) {
        let event = GroupEvent.scan(text)
        switch event.type {
        case "message": delivery(event)
        case "ack": ack(event)
        case "error": refusal(event)
        case let other?:
            ledger.otherEvents[other, default: 0] += 1
            if other == "synced", !isReady {
                isReady = true
                onReady?()
            }
        case nil:
            ledger.unexpected += 1
        }
    }

    private func ownMessage(_ clientID: String?) -> Int? {
        guard let senderIndex, let message = GroupEvent.messageIndex(clientID), message < next,
              message >= ledger.firstOfSender[senderIndex] else {
            ledger.unexpected += 1
            return nil
        }
        return message
    }

    private func ack(_ event: GroupEvent) {
        guard let message = ownMessage(event.clientID) else { return }
        guard ledger.ackSeq[message] == 0, !ledger.refused[message] else {
            ledger.unexpected += 1
            return
        }
        let now = MonotonicClock.nowMicros()
        let latency = now - ledger.sendMicros[message]
        ledger.noteAck(message, seq: event.seq ?? -1)
        if let seq = event.seq, ledger.deliveredSeq[message] != 0, ledger.deliveredSeq[message] != seq { ledger.seqMismatches += 1 }
        if ledger.isWarmup(message) {
            ledger.warmupAckLatency.record(latency)
        } else {
            ledger.ackLatency.record(latency)
            ledger.measuredAcks += 1
            ledger.lastAckMicros = now
        }
        inFlight -= 1
        pump()
        onProgress?()
    }

    private func refusal(_ event: GroupEvent) {
        let code = event.code ?? "unknown"
        if event.clientID == nil, !isReady {
            // The connect was refused (the socket closes next; the bench retries it).
            ledger.otherEvents["error \(code) while connecting", default: 0] += 1
            return
        }
        guard let message = ownMessage(event.clientID) else {
            ledger.errors[code, default: 0] += 1
            return
        }
        // PROTOCOL.md: rate_limited and unavailable were not applied; retry the same client_id.
        if code == "rate_limited" || code == "unavailable" {
            ledger.retries += 1
            ledger.otherEvents["retried after \(code)", default: 0] += 1
            schedule(UInt64(max(1, event.retryAfterMs ?? 100)) * 1_000) { [weak self] in
                guard let self else { return }
                socket.send(frame(message))
            }
            return
        }
        ledger.errors[code, default: 0] += 1
        ledger.refused[message] = true
        inFlight -= 1
        pump()
        onProgress?()
    }

    private func delivery(_ event: GroupEvent) {
        // The group's system messages (creation, members added) come in the connect backlog.
        guard event.conversationID == groupID, event.kind != "system" else { return }
        guard let sender = event.sender.flatMap({ senderNames[$0] }), let message = GroupEvent.messageIndex(event.clientID),
              message < ledger.total, ledger.sender(of: message) == sender, let seq = event.seq else {
            ledger.unexpected += 1
            return
        }
        if sender == senderIndex {
            ledger.echoes += 1
            return
        }
        let word = message / 64
        let bit = UInt64(1) << UInt64(message % 64)
        guard seen[word] & bit == 0 else {
            ledger.duplicateDeliveries += 1
            return
        }
        seen[word] |= bit
        if seq <= lastSeq { ledger.outOfOrder += 1 }
        lastSeq = max(lastSeq, seq)
        if ledger.deliveredSeq[message] == 0 {
            ledger.deliveredSeq[message] = seq
        } else if ledger.deliveredSeq[message] != seq {
            ledger.seqMismatches += 1
        }
        let now = MonotonicClock.nowMicros()
        ledger.noteDelivery(message)
        if ledger.isWarmup(message) {
            ledger.warmupDeliveries += 1
        } else {
            ledger.deliveryLatency.record(now - ledger.sendMicros[message])
            ledger.measuredDeliveries += 1
            ledger.lastDeliveryMicros = now
        }
        onProgress?()
    }
}
