/// A JSON object: string keys, unique, kept in insertion order.
///
/// Small objects (every protocol frame) are searched linearly, which beats hashing for a
/// handful of short keys; past `linearSearchMaxMembers` a key-to-position index is built so a
/// hostile document with 100,000 keys in one object still parses in linear time.
///
/// Keys match byte for byte (RFC 8259 §8.3), not by Swift's `String ==`, which would merge
/// canonically equivalent keys such as "\u00e9" and "e\u0301" into one member.
///
/// Equality ignores order: RFC 8259 §4 calls an object "an unordered collection", so
/// `{"a":1,"b":2} == {"b":2,"a":1}`. Iteration and serialization keep insertion order.
public struct JSONObject: Equatable, Sendable, Sequence, ExpressibleByDictionaryLiteral {
    public typealias Element = (key: String, value: JSON)

    /// Members beyond which lookups go through `index` instead of a linear scan. Chosen so a
    /// chat frame (about 5-10 members) never pays for a hash table.
    static let linearSearchMaxMembers = 12

    /// First allocation, in members: one allocation holds a typical protocol frame instead of
    /// growing through 1, 2, 4 and 8 (with the string fast scan: 9.1k to 7.6k instructions per
    /// chat frame parse, callgrind).
    static let initialCapacityMembers = 8

    private var members: [Element]
    /// Key to position in `members`; nil while the object is small.
    private var index: [ExactKey: Int]?

    public init() {
        members = []
        index = nil
    }

    /// Later duplicates replace earlier ones in place (the same rule as the parser).
    public init(dictionaryLiteral elements: (String, JSON)...) {
        self.init()
        members.reserveCapacity(elements.count)
        for (key, value) in elements { self[key] = value }
    }

    public var count: Int { members.count }
    public var isEmpty: Bool { members.isEmpty }
    public var keys: [String] { members.map(\.key) }
    public var values: [JSON] { members.map(\.value) }

    /// Reading a missing key gives nil. Setting nil removes the key; setting a value replaces
    /// an existing key in place (keeping its position) or appends a new one.
    public subscript(key: String) -> JSON? {
        get {
            guard let position = position(of: key) else { return nil }
            return members[position].value
        }
        set {
            if let newValue {
                if let position = position(of: key) {
                    members[position].value = newValue
                } else {
                    append(key: key, value: newValue)
                }
            } else if let position = position(of: key) {
                remove(at: position)
            }
        }
    }

    public func makeIterator() -> IndexingIterator<[Element]> { members.makeIterator() }

    public var underestimatedCount: Int { members.count }

    public static func == (lhs: JSONObject, rhs: JSONObject) -> Bool {
        guard lhs.count == rhs.count else { return false }
        for (key, value) in lhs.members {
            guard let other = rhs[key], other == value else { return false }
        }
        return true
    }

    private func position(of key: String) -> Int? {
        if let index { return index[ExactKey(key)] }
        return members.firstIndex { ExactKey.same($0.key, key) }
    }

    private mutating func append(key: String, value: JSON) {
        if members.capacity == 0 { members.reserveCapacity(Self.initialCapacityMembers) }
        members.append((key: key, value: value))
        if index != nil {
            index?[ExactKey(key)] = members.count - 1
        } else if members.count > Self.linearSearchMaxMembers {
            rebuildIndex()
        }
    }

    private mutating func remove(at position: Int) {
        members.remove(at: position)
        if index != nil {
            if members.count > Self.linearSearchMaxMembers {
                rebuildIndex()
            } else {
                index = nil
            }
        }
    }

    private mutating func rebuildIndex() {
        var built = [ExactKey: Int](minimumCapacity: members.count)
        for (position, member) in members.enumerated() { built[ExactKey(member.key)] = position }
        index = built
    }
}

/// A key compared and hashed by its UTF-8 bytes. Swift's `Hasher` is seeded per process, so a
/// hostile document cannot pick keys that collide.
private struct ExactKey: Hashable {
    let text: String

    init(_ text: String) { self.text = text }

    static func same(_ lhs: String, _ rhs: String) -> Bool {
        // Byte-equal strings are always `==`, so the cheap `==` (raw-bits fast path, quick
        // rejection) filters first and only a probable match pays for the byte walk.
        lhs == rhs && lhs.utf8.elementsEqual(rhs.utf8)
    }

    static func == (lhs: ExactKey, rhs: ExactKey) -> Bool { same(lhs.text, rhs.text) }

    func hash(into hasher: inout Hasher) {
        var text = text
        text.withUTF8 { hasher.combine(bytes: UnsafeRawBufferPointer($0)) }
    }
}
