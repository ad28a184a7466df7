/// Every message of a `relay-bench group` run and what became of it: when it was sent, its
/// ack, and how many member connections got it. Messages are numbered globally (client id
/// "c<n>"): the warm-up messages first (all from sender 0), then each sender's share of the
/// measured ones. Shared by the member connections (one loop thread).
final class GroupLedger {
    let members: Int
    let warmup: Int
    /// The first message number of each sender, and how many it sends.
    let firstOfSender: [Int]
    let countOfSender: [Int]
    var total: Int { warmup + measured }
    let measured: Int

    var sendMicros: [UInt64]
    /// The ack's seq (0: not acked), and the seq of the first delivery (0: none yet).
    var ackSeq: [Int64]
    var deliveredSeq: [Int64]
    /// Distinct member connections that got each message.
    var deliveries: [Int32]
    var refused: [Bool]

    var ackLatency = LatencyHistogram()
    var warmupAckLatency = LatencyHistogram()
    var deliveryLatency = LatencyHistogram()
    var sent = 0
    var acked = 0
    var retries = 0
    var measuredAcks = 0
    /// Distinct deliveries (member connection, message), warm-up included and not.
    var delivered = 0
    var measuredDeliveries = 0
    var warmupDeliveries = 0
    var duplicateDeliveries = 0
    /// A delivery whose seq was not above the previous one on that connection.
    var outOfOrder = 0
    /// The sending connection got its own message (it should get only the ack).
    var echoes = 0
    /// A message's deliveries disagreed on its seq.
    var seqMismatches = 0
    var errors: [String: Int] = [:]
    var otherEvents: [String: Int] = [:]
    var unexpected = 0
    var disconnects = 0
    var firstDisconnect: String?
    var firstSendMicros: UInt64 = 0
    var lastAckMicros: UInt64 = 0
    var lastDeliveryMicros: UInt64 = 0

    init(members: Int, senders: Int, warmup: Int, messages: Int) {
        self.members = members
        self.warmup = warmup
        measured = messages
        var first: [Int] = []
        var count: [Int] = []
        var next = 0
        for sender in 0..<senders {
            let share = messages / senders + (sender < messages % senders ? 1 : 0)
            let own = share + (sender == 0 ? warmup : 0)
            first.append(next)
            count.append(own)
            next += own
        }
        firstOfSender = first
        countOfSender = count
        let total = warmup + messages
        sendMicros = Array(repeating: 0, count: total)
        ackSeq = Array(repeating: 0, count: total)
        deliveredSeq = Array(repeating: 0, count: total)
        deliveries = Array(repeating: 0, count: total)
        refused = Array(repeating: false, count: total)
    }

    /// Sender 0's first `warmup` message numbers are the warm-up ones.
    func isWarmup(_ message: Int) -> Bool { message < warmup }

    /// The sender (index) of message `message`.
    func sender(of message: Int) -> Int {
        var low = 0
        var high = firstOfSender.count - 1
        while low < high {
            let mid = (low + high + 1) / 2
            if firstOfSender[mid] <= message { low = mid } else { high = mid - 1 }
        }
        return low
    }

    /// Member connections that should get each acknowledged message: all but the sender's.
    var expectedPerMessage: Int { members - 1 }

    /// Acked messages times the connections each should reach, minus those that did.
    func lost(in range: Range<Int>) -> Int {
        range.reduce(0) { $0 + (ackSeq[$1] != 0 ? max(0, expectedPerMessage - Int(deliveries[$1])) : 0) }
    }

    /// Deliveries still owed for the acknowledged messages, kept as they come (a full count
    /// per event would cost O(messages)).
    private(set) var outstanding = 0

    func noteAck(_ message: Int, seq: Int64) {
        ackSeq[message] = seq
        acked += 1
        outstanding += expectedPerMessage - Int(deliveries[message])
    }

    /// A first delivery of `message` to one member connection.
    func noteDelivery(_ message: Int) {
        deliveries[message] += 1
        delivered += 1
        if ackSeq[message] != 0 { outstanding -= 1 }
    }
}
