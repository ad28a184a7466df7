/// Names one scheduled timer so it can be cancelled.
public struct TimerID: Hashable, Sendable {
    public let raw: UInt64
    public init(raw: UInt64) { self.raw = raw }
}

/// A binary min-heap of timer deadlines, ordered by (deadline, id). Ids rise with every
/// schedule, so timers with the same deadline fire in the order they were scheduled.
/// Pure: the loop passes the time in. Cancelled timers stay in the heap until popped or until
/// `retain` rebuilds it (the loop compacts when they outnumber live ones).
struct TimerHeap {
    struct Entry: Equatable {
        let deadlineMs: Int64
        let id: UInt64

        func firesBefore(_ other: Entry) -> Bool {
            (deadlineMs, id) < (other.deadlineMs, other.id)
        }
    }

    private(set) var entries: [Entry] = []

    var count: Int { entries.count }
    var first: Entry? { entries.first }

    mutating func push(_ entry: Entry) {
        entries.append(entry)
        siftUp(entries.count - 1)
    }

    @discardableResult
    mutating func popFirst() -> Entry? {
        guard let top = entries.first else { return nil }
        let last = entries.removeLast()
        if !entries.isEmpty {
            entries[0] = last
            siftDown(0)
        }
        return top
    }

    /// Keeps only the entries `keep` accepts and restores the heap order (O(n)).
    mutating func retain(where keep: (Entry) -> Bool) {
        entries.removeAll { !keep($0) }
        var index = entries.count / 2
        while index > 0 {
            index -= 1
            siftDown(index)
        }
    }

    private mutating func siftUp(_ start: Int) {
        var child = start
        while child > 0 {
            let parent = (child - 1) / 2
            guard entries[child].firesBefore(entries[parent]) else { return }
            entries.swapAt(child, parent)
            child = parent
        }
    }

    private mutating func siftDown(_ start: Int) {
        var parent = start
        while true {
            let left = 2 * parent + 1
            guard left < entries.count else { return }
            var smallest = left
            let right = left + 1
            if right < entries.count, entries[right].firesBefore(entries[left]) { smallest = right }
            guard entries[smallest].firesBefore(entries[parent]) else { return }
            entries.swapAt(smallest, parent)
            parent = smallest
        }
    }
}
