import Chat

/// Where pushes wait so that one loop turn serves a bounded number of recipients: a push to a
/// big group is served in slices of `perTurn`, one slice per turn, and pushes behind it wait
/// their turn, so every connection still sees events in the order they were pushed. A push
/// that finds nothing waiting and is small goes out at once (the usual case). Bounded: past
/// `maxWaiting` recipients the oldest are served at once, so a node that cannot keep up
/// spends its time serving rather than its memory. Pure: the caller delivers and schedules.
struct PushQueue {
    /// Recipients one loop turn serves at most, so a push to a big group never stalls the
    /// node's other work (writes, gossip answers, other clients) for long.
    static let recipientsPerTurn = 5_000
    static let maxWaitingRecipients = 1_000_000

    struct Item {
        var event: OutboundEvent
        var users: ArraySlice<String>
        var except: ConnectionRef?
        /// Only this node's connections (an event a peer forwarded).
        var localOnly: Bool
    }

    enum Added: Equatable {
        case delivered
        /// Waiting; the caller must call `drain` on a later turn.
        case startDraining
        /// Waiting behind others; a drain is already due.
        case waiting
    }

    let perTurn: Int
    let maxWaiting: Int
    private var items: [Item] = []
    private var head = 0
    private(set) var waitingRecipients = 0
    /// Pushes that had to wait (for metrics).
    private(set) var queued = 0

    init(perTurn: Int, maxWaiting: Int = PushQueue.maxWaitingRecipients) {
        self.perTurn = perTurn
        self.maxWaiting = maxWaiting
    }

    var isEmpty: Bool { head == items.count }

    mutating func add(_ item: Item, deliver: (Item) -> Void) -> Added {
        if isEmpty, item.users.count <= perTurn {
            deliver(item)
            return .delivered
        }
        let wasEmpty = isEmpty
        items.append(item)
        waitingRecipients += item.users.count
        queued += 1
        if waitingRecipients > maxWaiting { serve(waitingRecipients - maxWaiting, deliver: deliver) }
        return wasEmpty ? .startDraining : .waiting
    }

    /// One turn's share. True when more is waiting (drain again on the next turn).
    mutating func drain(deliver: (Item) -> Void) -> Bool {
        serve(perTurn, deliver: deliver)
        return !isEmpty
    }

    private mutating func serve(_ budget: Int, deliver: (Item) -> Void) {
        var budget = budget
        while budget > 0, !isEmpty {
            var item = items[head]
            let slice = item.users.prefix(budget)
            var part = item
            part.users = slice
            deliver(part)
            budget -= slice.count
            waitingRecipients -= slice.count
            if slice.count == item.users.count {
                head += 1
            } else {
                item.users = item.users.dropFirst(slice.count)
                items[head] = item
            }
        }
        if isEmpty {
            items.removeAll(keepingCapacity: items.count < 1_024)
            head = 0
        }
    }
}
