/// A map that holds at most `capacity` entries: writing a new key when it is full forgets the
/// least recently written entry. Reads do not refresh an entry, so eviction order depends only
/// on the order of writes (never on `Dictionary` iteration order). O(1) per operation: a
/// doubly linked list threaded through an array of slots, indexed by a dictionary.
struct BoundedLRU<Key: Hashable, Value> {
    private struct Slot {
        var key: Key
        var value: Value
        var newer: Int
        var older: Int
    }

    let capacity: Int
    private var index: [Key: Int] = [:]
    private var slots: [Slot] = []
    private var freeSlots: [Int] = []
    /// Most and least recently written slots; -1 when empty.
    private var newest = -1
    private var oldest = -1

    init(capacity: Int) {
        precondition(capacity > 0, "BoundedLRU needs a positive capacity, got \(capacity)")
        self.capacity = capacity
    }

    var count: Int { index.count }

    subscript(key: Key) -> Value? {
        guard let i = index[key] else { return nil }
        return slots[i].value
    }

    /// Stores `value` as the newest entry. Returns the entry forgotten to make room, if any.
    @discardableResult
    mutating func set(_ key: Key, _ value: Value) -> (key: Key, value: Value)? {
        if let i = index[key] {
            slots[i].value = value
            unlink(i)
            linkNewest(i)
            return nil
        }
        var evicted: (key: Key, value: Value)?
        if index.count >= capacity {
            let victim = oldest
            evicted = (slots[victim].key, slots[victim].value)
            unlink(victim)
            index.removeValue(forKey: slots[victim].key)
            freeSlots.append(victim)
        }
        let slot = Slot(key: key, value: value, newer: -1, older: -1)
        let i: Int
        if let reused = freeSlots.popLast() {
            slots[reused] = slot
            i = reused
        } else {
            slots.append(slot)
            i = slots.count - 1
        }
        index[key] = i
        linkNewest(i)
        assert(index.count <= capacity, "BoundedLRU holds \(index.count) entries, over its capacity \(capacity)")
        return evicted
    }

    /// Updates an entry in place without making it the newest; false if the key is absent.
    @discardableResult
    mutating func update(_ key: Key, _ change: (inout Value) -> Void) -> Bool {
        guard let i = index[key] else { return false }
        change(&slots[i].value)
        return true
    }

    mutating func remove(_ key: Key) {
        guard let i = index.removeValue(forKey: key) else { return }
        unlink(i)
        freeSlots.append(i)
    }

    private mutating func unlink(_ i: Int) {
        let newer = slots[i].newer, older = slots[i].older
        if newer >= 0 { slots[newer].older = older } else { newest = older }
        if older >= 0 { slots[older].newer = newer } else { oldest = newer }
        slots[i].newer = -1
        slots[i].older = -1
    }

    private mutating func linkNewest(_ i: Int) {
        slots[i].older = newest
        slots[i].newer = -1
        if newest >= 0 { slots[newest].newer = i }
        newest = i
        if oldest < 0 { oldest = i }
    }
}
