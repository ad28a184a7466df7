/// Correlates requests with responses on one peer connection: hands out correlation ids,
/// remembers each pending request with its deadline and the caller's `Context` (what to
/// resume when the answer comes), and bounds how many are in flight so the shell can push
/// back on a slow peer instead of queueing without limit.
///
/// Pure: the shell passes the monotonic time in nanoseconds. Ids rise from 1 (0 means "no
/// correlation" on the wire), so a late response to an expired request finds nothing and is
/// dropped, never matched to a newer request.
public struct RequestTracker<Context>: Sendable where Context: Sendable {
    /// Default bound on requests awaiting a response per connection: 1024. Enough to keep a
    /// LAN link busy (1024 requests of ~1 KiB in flight cover a 10 Gbit/s x 1 ms pipe), small
    /// enough that a stalled peer costs little memory before the shell stops sending to it.
    public static var defaultMaxInFlight: Int { 1024 }

    public struct Pending: Sendable {
        public let id: UInt64
        public let deadlineNanos: UInt64
        public let context: Context
    }

    public enum BeginError: Error, Equatable, Sendable {
        /// `maxInFlight` requests are pending: wait for responses (backpressure).
        case full(maxInFlight: Int)
    }

    public let maxInFlight: Int
    private var nextId: UInt64 = 1
    private var pending: [UInt64: Pending] = [:]
    /// Min-heap of (deadline, id). A completed request's entry stays until it surfaces or the
    /// heap is rebuilt (when it holds more than twice the pending count), so `complete` is
    /// O(1) and `expire` O(log n) per entry.
    private var deadlines: [(deadlineNanos: UInt64, id: UInt64)] = []

    public init(maxInFlight: Int = RequestTracker.defaultMaxInFlight) {
        self.maxInFlight = max(1, maxInFlight)
    }

    public var inFlightCount: Int { pending.count }
    public var isFull: Bool { pending.count >= maxInFlight }

    /// Registers a request due by `deadlineNanos` and returns its correlation id, or throws
    /// `full` when `maxInFlight` are already pending.
    public mutating func begin(deadlineNanos: UInt64, context: Context) throws(BeginError) -> UInt64 {
        guard !isFull else { throw .full(maxInFlight: maxInFlight) }
        let id = nextId
        // 2^64 requests never happen; the wrap skips 0 all the same.
        nextId = nextId == UInt64.max ? 1 : nextId + 1
        pending[id] = Pending(id: id, deadlineNanos: deadlineNanos, context: context)
        push((deadlineNanos, id))
        if deadlines.count > 2 * max(pending.count, 16) { rebuildHeap() }
        return id
    }

    /// The request a response answers, removed from the pending set; nil for an id that is not
    /// pending (already expired, already answered, or never sent: a peer can send anything).
    public mutating func complete(_ id: UInt64) -> Pending? {
        pending.removeValue(forKey: id)
    }

    /// Removes and returns every pending request whose deadline is at or before `nowNanos`,
    /// earliest deadline first (ties by id), for the shell to fail with a timeout.
    public mutating func expire(nowNanos: UInt64) -> [Pending] {
        var expired: [Pending] = []
        while let top = deadlines.first, top.deadlineNanos <= nowNanos {
            popMin()
            if let request = pending[top.id], request.deadlineNanos == top.deadlineNanos {
                pending.removeValue(forKey: top.id)
                expired.append(request)
            }
        }
        return expired
    }

    /// The earliest deadline still pending, to arm the shell's timer; nil when none is.
    public mutating func nextDeadlineNanos() -> UInt64? {
        while let top = deadlines.first, pending[top.id] == nil { popMin() }
        return deadlines.first?.deadlineNanos
    }

    /// Removes and returns everything pending, in id order: the connection closed.
    public mutating func failAll() -> [Pending] {
        let all = pending.values.sorted { $0.id < $1.id }
        pending.removeAll()
        deadlines.removeAll()
        return all
    }

    // MARK: - Binary heap

    private static func less(_ a: (deadlineNanos: UInt64, id: UInt64),
                             _ b: (deadlineNanos: UInt64, id: UInt64)) -> Bool {
        a.deadlineNanos != b.deadlineNanos ? a.deadlineNanos < b.deadlineNanos : a.id < b.id
    }

    private mutating func push(_ entry: (deadlineNanos: UInt64, id: UInt64)) {
        deadlines.append(entry)
        var child = deadlines.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            guard Self.less(deadlines[child], deadlines[parent]) else { break }
            deadlines.swapAt(child, parent)
            child = parent
        }
    }

    private mutating func popMin() {
        guard !deadlines.isEmpty else { return }
        deadlines.swapAt(0, deadlines.count - 1)
        deadlines.removeLast()
        siftDown(from: 0)
    }

    private mutating func siftDown(from start: Int) {
        var parent = start
        while true {
            let left = 2 * parent + 1
            let right = left + 1
            var smallest = parent
            if left < deadlines.count, Self.less(deadlines[left], deadlines[smallest]) { smallest = left }
            if right < deadlines.count, Self.less(deadlines[right], deadlines[smallest]) { smallest = right }
            if smallest == parent { return }
            deadlines.swapAt(parent, smallest)
            parent = smallest
        }
    }

    private mutating func rebuildHeap() {
        deadlines = pending.values.map { ($0.deadlineNanos, $0.id) }
        for index in stride(from: deadlines.count / 2 - 1, through: 0, by: -1) { siftDown(from: index) }
    }
}
