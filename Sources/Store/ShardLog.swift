/// The ordered log of a shard's committed writes: each commit of a shard (one loop turn's
/// writes) is one entry with the next log sequence number (LSN). An entry holds the write
/// statements with their bound values, so applying the entries in order to a copy of the
/// shard reproduces it exactly: what the primary ships to its replicas.
public struct LogStatement: Sendable, Equatable {
    public var sql: String
    public var args: [SQLValue]
    public init(sql: String, args: [SQLValue]) { self.sql = sql; self.args = args }
}

public struct LogEntry: Sendable, Equatable {
    public var lsn: Int64
    public var term: Int64
    public var statements: [LogStatement]
    public init(lsn: Int64, term: Int64, statements: [LogStatement]) {
        self.lsn = lsn
        self.term = term
        self.statements = statements
    }

    /// Statements per entry and bytes per value at most when decoding: far above what one
    /// loop turn writes, small enough that a hostile entry cannot exhaust memory.
    static let maxStatements = 1_000_000
    static let maxValueBytes = 16 << 20

    /// Binary form (big-endian): lsn u64, term u64, count u32, then per statement the SQL
    /// (u32 length + UTF-8), arg count u16, and per arg a type byte and its value.
    public func encoded() -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(64 + statements.count * 128)
        Self.put64(UInt64(bitPattern: lsn), &out)
        Self.put64(UInt64(bitPattern: term), &out)
        Self.put32(UInt32(statements.count), &out)
        for s in statements {
            Self.putBytes(Array(s.sql.utf8), &out)
            out.append(UInt8(truncatingIfNeeded: s.args.count >> 8))
            out.append(UInt8(truncatingIfNeeded: s.args.count))
            for arg in s.args {
                switch arg {
                case .null: out.append(0)
                case .int(let v): out.append(1); Self.put64(UInt64(bitPattern: v), &out)
                case .double(let v): out.append(2); Self.put64(v.bitPattern, &out)
                case .text(let v): out.append(3); Self.putBytes(Array(v.utf8), &out)
                case .blob(let v): out.append(4); Self.putBytes(v, &out)
                }
            }
        }
        return out
    }

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
        func u32() throws(StoreError) -> Int {
            try need(4)
            var v = 0
            for _ in 0..<4 { v = v << 8 | Int(bytes[i]); i += 1 }
            return v
        }
        func chunk() throws(StoreError) -> [UInt8] {
            let n = try u32()
            guard n <= maxValueBytes else { throw StoreError(code: -2, message: "log value too large") }
            try need(n)
            defer { i += n }
            return Array(bytes[i..<(i + n)])
        }
        func text() throws(StoreError) -> String {
            let raw = try chunk()
            guard let s = String(validating: raw, as: UTF8.self) else { throw StoreError(code: -2, message: "log text not UTF-8") }
            return s
        }
        let lsn = Int64(bitPattern: try u64()), term = Int64(bitPattern: try u64())
        let count = try u32()
        guard count <= maxStatements, count <= (bytes.count - i) / 6 else { throw StoreError(code: -2, message: "bad statement count") }
        var statements: [LogStatement] = []
        statements.reserveCapacity(count)
        for _ in 0..<count {
            let sql = try text()
            try need(2)
            let argc = Int(bytes[i]) << 8 | Int(bytes[i + 1])
            i += 2
            var args: [SQLValue] = []
            for _ in 0..<argc {
                try need(1)
                let type = bytes[i]
                i += 1
                switch type {
                case 0: args.append(.null)
                case 1: args.append(.int(Int64(bitPattern: try u64())))
                case 2: args.append(.double(Double(bitPattern: try u64())))
                case 3: args.append(.text(try text()))
                case 4: args.append(.blob(try chunk()))
                default: throw StoreError(code: -2, message: "bad value type \(type)")
                }
            }
            statements.append(LogStatement(sql: sql, args: args))
        }
        guard i == bytes.count else { throw StoreError(code: -2, message: "trailing bytes in log entry") }
        return LogEntry(lsn: lsn, term: term, statements: statements)
    }

    private static func put64(_ v: UInt64, _ out: inout [UInt8]) {
        for shift in stride(from: 56, through: 0, by: -8) { out.append(UInt8(truncatingIfNeeded: v >> UInt64(shift))) }
    }
    private static func put32(_ v: UInt32, _ out: inout [UInt8]) {
        for shift in stride(from: 24, through: 0, by: -8) { out.append(UInt8(truncatingIfNeeded: v >> UInt32(shift))) }
    }
    private static func putBytes(_ b: [UInt8], _ out: inout [UInt8]) {
        put32(UInt32(b.count), &out)
        out.append(contentsOf: b)
    }
}
