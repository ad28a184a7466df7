import Wire

/// Messages for one peer that cannot be written yet: the connection is not up, or
/// `maxInFlightRequestsPerPeer` requests await answers. One FIFO for requests and oneways, so
/// a peer receives them in the order they were sent. Requests keep their deadline while they
/// wait and expire here like written ones; oneways never expire (they are dropped only when
/// the peer is unreachable or removed).
///
/// Bounded by message count (the deadline tracker's `maxInFlight`); the byte bound is checked
/// by the link, which also counts the connection's unsent bytes. Pure: time comes in.
struct OutboundQueue {
    /// Deadline of a oneway: never.
    static let noDeadlineNanos = UInt64.max
    /// Keys consumed from the front of `order` kept before compacting (amortised O(1)).
    private static let compactAfterKeys = 1_024

    /// Ids are the queue keys; the context is the message's byte count.
    private var deadlines: RequestTracker<Int>
    private var messages: [UInt64: OutboundMessage] = [:]
    /// Keys in send order; keys of expired messages stay until passed or compacted.
    private var order: [UInt64] = []
    private var head = 0
    private(set) var byteCount = 0

    init(maxMessages: Int) {
        deadlines = RequestTracker(maxInFlight: maxMessages)
    }

    var count: Int { messages.count }
    var isEmpty: Bool { messages.isEmpty }

    /// Appends at the back; false (nothing queued) when `maxMessages` are waiting.
    mutating func append(_ message: OutboundMessage, deadlineNanos: UInt64) -> Bool {
        let key: UInt64
        do {
            key = try deadlines.begin(deadlineNanos: deadlineNanos, context: message.byteCount)
        } catch {
            return false
        }
        messages[key] = message
        order.append(key)
        byteCount += message.byteCount
        return true
    }

    /// The message at the front, left in place.
    mutating func front() -> OutboundMessage? {
        skipGone()
        return head < order.count ? messages[order[head]] : nil
    }

    /// Removes the front message, with its deadline.
    mutating func popFront() -> (message: OutboundMessage, deadlineNanos: UInt64)? {
        skipGone()
        guard head < order.count else { return nil }
        let key = order[head]
        head += 1
        guard let message = messages.removeValue(forKey: key), let pending = deadlines.complete(key) else {
            return nil  // unreachable: skipGone left a live key at the head
        }
        byteCount -= pending.context
        compact()
        return (message, pending.deadlineNanos)
    }

    /// Removes the requests whose deadline is at or before `nowNanos`, earliest first.
    mutating func expire(nowNanos: UInt64) -> [OutboundMessage] {
        let expired = deadlines.expire(nowNanos: nowNanos).compactMap { pending -> OutboundMessage? in
            byteCount -= pending.context
            return messages.removeValue(forKey: pending.id)
        }
        compact()
        return expired
    }

    /// The earliest request deadline, to arm the timer; nil when only oneways (or nothing) wait.
    mutating func nextDeadlineNanos() -> UInt64? {
        guard let next = deadlines.nextDeadlineNanos(), next != Self.noDeadlineNanos else { return nil }
        return next
    }

    /// Empties the queue, returning the messages in send order.
    mutating func removeAll() -> [OutboundMessage] {
        let all = order[head...].compactMap { messages[$0] }
        _ = deadlines.failAll()
        messages.removeAll()
        order.removeAll()
        head = 0
        byteCount = 0
        return all
    }

    private mutating func skipGone() {
        while head < order.count, messages[order[head]] == nil { head += 1 }
        if head == order.count {
            order.removeAll(keepingCapacity: true)
            head = 0
        }
    }

    /// Drops consumed keys once they are half the array, and the keys of expired messages
    /// once they outnumber the live ones, so `order` stays O(live messages).
    private mutating func compact() {
        if head >= Self.compactAfterKeys, head * 2 >= order.count {
            order.removeFirst(head)
            head = 0
        }
        if order.count - head > 2 * messages.count + Self.compactAfterKeys {
            order = order[head...].filter { messages[$0] != nil }
            head = 0
        }
    }
}
