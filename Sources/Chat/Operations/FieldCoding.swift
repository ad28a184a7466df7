import Store
import Wire

/// The field encodings shard operations share, with WireWriter's big-endian, length-prefixed
/// forms. Every read is bounded: hostile bytes give an error, never a trap or a huge
/// allocation.
public enum FieldLimits {
    /// Far above legitimate use (a 64 KiB body escaped), small enough that one frame cannot make
    /// a node allocate without limit.
    public static let maxStringBytes = 1 << 20
    /// Entries in one list (ids of a summaries request, messages of a page).
    public static let maxListCount = 100_000
}

extension WireWriter {
    public mutating func writeInt(_ v: Int64) { writeU64(UInt64(bitPattern: v)) }
    public mutating func writeBool(_ v: Bool) { writeU8(v ? 1 : 0) }
    public mutating func writeOptionalInt(_ v: Int64?) {
        if let v { writeU8(1); writeInt(v) } else { writeU8(0) }
    }
    public mutating func writeOptionalString(_ v: String?) {
        if let v { writeU8(1); writeString(v) } else { writeU8(0) }
    }
    public mutating func writeStrings(_ list: [String]) {
        writeU32(UInt32(list.count))
        for s in list { writeString(s) }
    }
    public mutating func writeList<T>(_ list: [T], _ each: (T, inout WireWriter) -> Void) {
        writeU32(UInt32(list.count))
        for item in list { each(item, &self) }
    }
}

extension WireReader {
    public mutating func readInt() throws -> Int64 { Int64(bitPattern: try readU64()) }
    public mutating func readBool() throws -> Bool { try readU8() == 1 }
    public mutating func readText() throws -> String { try readString(maxBytes: FieldLimits.maxStringBytes) }
    public mutating func readOptionalInt() throws -> Int64? { try readU8() == 1 ? try readInt() : nil }
    public mutating func readOptionalString() throws -> String? { try readU8() == 1 ? try readText() : nil }
    /// A count of list entries, each at least `minBytes` long: a count the payload cannot
    /// hold is a lie, refused before anything is allocated.
    public mutating func readCount(minBytes: Int = 4) throws -> Int {
        let n = Int(try readU32())
        guard n <= FieldLimits.maxListCount, n <= remainingCount / max(1, minBytes) + 1 else { throw ShardCodecError.tooLong }
        return n
    }
    public mutating func readStrings() throws -> [String] {
        let n = try readCount()
        var out: [String] = []
        out.reserveCapacity(n)
        for _ in 0..<n { out.append(try readText()) }
        return out
    }
    public mutating func readList<T>(minBytes: Int = 4, _ each: (inout WireReader) throws -> T) throws -> [T] {
        let n = try readCount(minBytes: minBytes)
        var out: [T] = []
        out.reserveCapacity(n)
        for _ in 0..<n { out.append(try each(&self)) }
        return out
    }
}

/// The binary forms of the records several operations carry.
extension WireWriter {
    public mutating func write(_ m: StoredMessage) {
        writeString(m.conversationID); writeInt(m.seq); writeString(m.messageID); writeString(m.sender)
        writeString(m.clientID); writeInt(m.ts); writeString(m.kind); writeString(m.body)
        writeStrings(m.attachments); write(m.tip)
        writeOptionalInt(m.width); writeOptionalInt(m.height)
    }
    public mutating func write(_ tip: Tip?) {
        if let tip { writeU8(1); writeInt(tip.amountCents); writeString(tip.currency) } else { writeU8(0) }
    }
}

extension WireReader {
    public mutating func readMessage() throws -> StoredMessage {
        var m = StoredMessage(conversationID: try readText(), seq: try readInt(), messageID: try readText(), sender: try readText(),
                              clientID: try readText(), ts: try readInt(), kind: try readText(), body: try readText(),
                              attachments: try readStrings(), tip: try readTip())
        m.width = try readOptionalInt()
        m.height = try readOptionalInt()
        return m
    }
    public mutating func readTip() throws -> Tip? {
        try readU8() == 1 ? Tip(amountCents: try readInt(), currency: try readText()) : nil
    }
}
