import JSON

/// One sender and its partner: the sender keeps at most `window` messages unacknowledged,
/// paced by `intervalMicros` if a rate is set; the recipient checks each delivery against
/// what was sent (exactly once, gapless seq). Loop thread only.
final class ChatPair {
    struct Plan {
        /// Sent one at a time before the measured messages and left out of the latency and
        /// rate figures (still checked for delivery): the first message of a direct chat
        /// creates it, a one-off cost per conversation.
        let warmup: Int
        /// Measured messages.
        let messages: Int
        let window: Int
        /// Microseconds between sends (nil: as fast as the window allows).
        let intervalMicros: UInt64?
        let bodyBytes: Int
        /// The recipient sends a `receipt` every this many deliveries (0: never).
        let receiptEvery: Int
    }

    let senderName: String
    let recipientName: String
    let conversationID: String
    var sender: WebSocketClient?
    var recipient: WebSocketClient?
    /// Called after any progress (an ack, a delivery, a refusal), for the bench's end check.
    var onProgress: (() -> Void)?
    /// Called once per side when its `synced` arrives.
    var onReady: (() -> Void)?
    /// Called once when every warm-up message is acknowledged.
    var onWarm: (() -> Void)?

    private let plan: Plan
    private let stats: ChatStats
    private let schedule: (UInt64, @escaping () -> Void) -> Void
    private let padding: String
    private var sendMicros: [UInt64]
    private var ackSeq: [Int64]
    private var deliveredSeq: [Int64]
    private var failed = 0
    private var nextIndex = 0
    private(set) var inFlight = 0
    private(set) var ackedCount = 0
    private(set) var deliveredCount = 0
    private var stopped = false
    private var measuring = false
    private var firstSendAtMicros: UInt64 = 0
    private var wakeScheduled = false
    private var lastSeq: Int64 = 0

    /// `schedule(delayMicros, fn)` runs fn later on the loop (the rate pacing timer).
    init(senderName: String, recipientName: String, plan: Plan, stats: ChatStats,
         schedule: @escaping (UInt64, @escaping () -> Void) -> Void) {
        self.senderName = senderName
        self.recipientName = recipientName
        conversationID = BenchNames.directConversation(senderName, recipientName)
        self.plan = plan
        self.stats = stats
        self.schedule = schedule
        padding = String(repeating: "x", count: plan.bodyBytes)
        sendMicros = Array(repeating: 0, count: plan.warmup + plan.messages)
        ackSeq = Array(repeating: 0, count: plan.warmup + plan.messages)
        deliveredSeq = Array(repeating: 0, count: plan.warmup + plan.messages)
    }

    private var total: Int { plan.warmup + plan.messages }

    /// Every message sent has an answer (or the sender stopped) and nothing more will be sent.
    var isSettled: Bool { inFlight == 0 && (stopped || nextIndex == total) }
    /// Every acknowledged message has reached the recipient.
    var isDelivered: Bool { deliveredCount >= ackedCount }
    var lost: Int { max(0, ackedCount - deliveredCount) }

    /// Sends the warm-up messages, one at a time; `onWarm` follows (at once if none).
    func warmUp() {
        guard plan.warmup > 0 else {
            onWarm?()
            return
        }
        pump()
    }

    /// Starts the measured messages at `startMicros` plus this pair's offset in the rate
    /// schedule.
    func start(atMicros startMicros: UInt64, offsetMicros: UInt64) {
        measuring = true
        firstSendAtMicros = startMicros + offsetMicros
        pump()
    }

    /// No new messages after this (the duration ended or the sender's socket closed).
    func stop() {
        stopped = true
    }

    /// The sender's socket is gone: whatever was in flight will never be answered.
    func abandonInFlight() {
        stopped = true
        inFlight = 0
    }

    /// Acked messages whose delivered seq differs from the ack's seq.
    func seqMismatches() -> Int {
        (0..<total).count { ackSeq[$0] != 0 && deliveredSeq[$0] != 0 && ackSeq[$0] != deliveredSeq[$0] }
    }

    // MARK: Sending

    private func pump() {
        guard let sender else { return }
        let limit = measuring ? total : plan.warmup
        let window = measuring ? plan.window : 1
        while !stopped, inFlight < window, nextIndex < limit {
            let now = MonotonicClock.nowMicros()
            if measuring, let interval = plan.intervalMicros {
                let due = firstSendAtMicros + UInt64(nextIndex - plan.warmup) * interval
                if due > now {
                    wake(afterMicros: due - now)
                    return
                }
            }
            let index = nextIndex
            nextIndex += 1
            inFlight += 1
            sendMicros[index] = now
            if measuring, stats.firstSendMicros == 0 { stats.firstSendMicros = now }
            stats.sent += 1
            sender.send(frame(index))
        }
    }

    private func wake(afterMicros delay: UInt64) {
        guard !wakeScheduled else { return }
        wakeScheduled = true
        schedule(delay) { [weak self] in
            self?.wakeScheduled = false
            self?.pump()
        }
    }

    private func frame(_ index: Int) -> String {
        let digits = String(index)
        let body = digits + padding.prefix(max(0, plan.bodyBytes - digits.utf8.count))
        return #"{"type":"send","client_id":"c\#(index)","to":"\#(recipientName)","kind":"text","body":"\#(body)"}"#
    }

    // MARK: Events

    func senderEvent(_ text: String) {
        guard let event = try? JSON.parse(text), let type = event["type"]?.stringValue else {
            stats.unexpected += 1
            return
        }
        switch type {
        case "ack":
            guard let index = messageIndex(event["client_id"]) else { return }
            guard ackSeq[index] == 0 else {
                stats.duplicateAcks += 1
                return
            }
            let now = MonotonicClock.nowMicros()
            ackSeq[index] = event["seq"]?.intValue ?? -1
            let latency = now - sendMicros[index]
            if index >= plan.warmup {
                stats.ackLatency.record(latency)
                stats.measuredAcks += 1
                stats.lastAckMicros = now
                if latency > stats.slowestAck?.micros ?? 0 {
                    stats.slowestAck = (latency, senderName, index, sendMicros[index])
                }
            } else {
                stats.warmupAckLatency.record(latency)
            }
            stats.acked += 1
            ackedCount += 1
            inFlight -= 1
            pump()
            if !measuring, ackedCount == plan.warmup { onWarm?() }
            onProgress?()
        case "error":
            refused(event)
        default:
            noteOther(type, side: "sender")
        }
    }

    func recipientEvent(_ text: String) {
        guard let event = try? JSON.parse(text), let type = event["type"]?.stringValue else {
            stats.unexpected += 1
            return
        }
        guard type == "message" else { return noteOther(type, side: "recipient") }
        guard event["sender"]?.stringValue == senderName, let index = messageIndex(event["client_id"]) else { return }
        let seq = event["seq"]?.intValue ?? -1
        guard deliveredSeq[index] == 0 else {
            stats.duplicateDeliveries += 1
            return
        }
        let now = MonotonicClock.nowMicros()
        deliveredSeq[index] = seq
        if seq != lastSeq + 1 { stats.seqGaps += 1 }
        lastSeq = max(lastSeq, seq)
        if index >= plan.warmup {
            stats.deliveryLatency.record(now - sendMicros[index])
            stats.measuredDeliveries += 1
            stats.lastDeliveryMicros = now
        }
        stats.delivered += 1
        deliveredCount += 1
        if plan.receiptEvery > 0, deliveredCount % plan.receiptEvery == 0 {
            recipient?.send(#"{"type":"receipt","conversation_id":"\#(conversationID)","delivered":\#(seq)}"#)
        }
        onProgress?()
    }

    private func refused(_ event: JSON) {
        let code = event["code"]?.stringValue ?? "unknown"
        guard let index = messageIndex(event["client_id"]) else {
            stats.errors[code, default: 0] += 1
            return
        }
        // PROTOCOL.md: rate_limited and unavailable were not applied; retry the same client_id.
        if code == "rate_limited" || code == "unavailable" {
            let delayMs = max(1, event["retry_after_ms"]?.intValue ?? 100)
            stats.retries += 1
            schedule(UInt64(delayMs) * 1_000) { [weak self] in
                guard let self, let sender else { return }
                sender.send(frame(index))
            }
            return
        }
        stats.errors[code, default: 0] += 1
        failed += 1
        inFlight -= 1
        pump()
        if !measuring, ackedCount + failed == plan.warmup { onWarm?() }
        onProgress?()
    }

    private func noteOther(_ type: String, side: String) {
        stats.otherEvents["\(side) \(type)", default: 0] += 1
        if type == "synced" { onReady?() }
    }

    /// "c17" → 17, for a client id this pair sent.
    private func messageIndex(_ value: JSON?) -> Int? {
        guard let text = value?.stringValue, text.hasPrefix("c"), let index = Int(text.dropFirst()),
              index >= 0, index < nextIndex else {
            stats.unexpected += 1
            return nil
        }
        return index
    }
}
