/// The ordered log of a shard's committed writes: each commit of a shard (one loop turn's
/// writes) is one entry with the next log sequence number (LSN). An entry holds the rows the
/// commit changed (in SQLite's changeset format: each inserted row, each deleted row's old
/// values, each updated row's key and the old and new values of its changed columns), so
/// applying the entries in order to a copy of the shard reproduces it exactly, whatever the
/// statements that made them: what the primary ships to its replicas.
public struct LogEntry: Sendable, Equatable {
    public var lsn: Int64
    public var term: Int64
    /// The row changes, in SQLite's changeset format (https://sqlite.org/sessionintro.html).
    public var changeset: [UInt8]

    public init(lsn: Int64, term: Int64, changeset: [UInt8]) {
        self.lsn = lsn
        self.term = term
        self.changeset = changeset
    }

    /// The first byte of every encoded entry. Entries of the statement log (before schema 3)
    /// began with the high byte of their LSN, 0: they fail to decode rather than misread.
    static let format: UInt8 = 1

    /// Changeset bytes at most when decoding: what fits one peer frame (16 MiB), and small
    /// enough that a hostile entry cannot exhaust memory.
    static let maxChangesetBytes = 16 << 20

    /// Binary form (big-endian): format byte, lsn u64, term u64, changeset length u32, changeset.
    public func encoded() -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(21 + changeset.count)
        out.append(Self.format)
        Self.put64(UInt64(bitPattern: lsn), &out)
        Self.put64(UInt64(bitPattern: term), &out)
        Self.put32(UInt32(truncatingIfNeeded: changeset.count), &out)
        out.append(contentsOf: changeset)
        return out
    }

    /// Decodes an entry, refusing anything but exactly one well-framed entry. The changeset
    /// itself is checked when applied (`RowChanges.check`).
    public static func decode(_ bytes: [UInt8]) throws(StoreError) -> LogEntry {
        var i = 0
        func need(_ n: Int) throws(StoreError) {
            guard n >= 0, bytes.count - i >= n else { throw StoreError(code: -2, message: "truncated log entry") }
        }
        func u64() throws(StoreError) -> UInt64 {
            try need(8)
            var v: UInt64 = 0
            for _ in 0..<8 { v = v << 8 | UInt64(bytes[i]); i += 1 }
            return v
        }
        try need(1)
        guard bytes[0] == format else { throw StoreError(code: -2, message: "log entry format \(bytes[0]) is not \(format)") }
        i = 1
        let lsn = Int64(bitPattern: try u64()), term = Int64(bitPattern: try u64())
        try need(4)
        var count = 0
        for _ in 0..<4 { count = count << 8 | Int(bytes[i]); i += 1 }
        guard count <= maxChangesetBytes else { throw StoreError(code: -2, message: "log entry changeset too large") }
        try need(count)
        guard i + count == bytes.count else { throw StoreError(code: -2, message: "trailing bytes in log entry") }
        return LogEntry(lsn: lsn, term: term, changeset: Array(bytes[i...]))
    }

    private static func put64(_ v: UInt64, _ out: inout [UInt8]) {
        for shift in stride(from: 56, through: 0, by: -8) { out.append(UInt8(truncatingIfNeeded: v >> UInt64(shift))) }
    }
    private static func put32(_ v: UInt32, _ out: inout [UInt8]) {
        for shift in stride(from: 24, through: 0, by: -8) { out.append(UInt8(truncatingIfNeeded: v >> UInt32(shift))) }
    }
}
