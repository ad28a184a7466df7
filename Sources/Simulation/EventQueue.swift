import Gossip

/// A deterministic timeline: events come out in time order, and events at the same instant
/// in the order they were scheduled. Generic so any simulated component (gossip nodes
/// today, stores and replication later) can share one clock.
public struct EventQueue<Event> {
    private struct Slot {
        var at: Instant
        var order: UInt64
        var event: Event
    }

    private var heap: [Slot] = []
    private var nextOrder: UInt64 = 0

    public init() {}

    public var count: Int { heap.count }
    public var isEmpty: Bool { heap.isEmpty }
    public var nextTime: Instant? { heap.first?.at }

    public mutating func schedule(_ event: Event, at: Instant) {
        heap.append(Slot(at: at, order: nextOrder, event: event))
        nextOrder += 1
        var child = heap.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            guard precedes(heap[child], heap[parent]) else { break }
            heap.swapAt(child, parent)
            child = parent
        }
    }

    public mutating func popNext() -> (at: Instant, event: Event)? {
        guard !heap.isEmpty else { return nil }
        heap.swapAt(0, heap.count - 1)
        let slot = heap.removeLast()
        var parent = 0
        while true {
            let left = 2 * parent + 1, right = left + 1
            var first = parent
            if left < heap.count, precedes(heap[left], heap[first]) { first = left }
            if right < heap.count, precedes(heap[right], heap[first]) { first = right }
            if first == parent { break }
            heap.swapAt(parent, first)
            parent = first
        }
        return (slot.at, slot.event)
    }

    private func precedes(_ a: Slot, _ b: Slot) -> Bool {
        a.at != b.at ? a.at < b.at : a.order < b.order
    }
}
