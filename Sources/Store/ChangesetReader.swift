/// A bounds-checked reading of SQLite's changeset format (the "CHANGESET FORMAT" comment of
/// SQLite's ext/session/sqlite3session.c), done before SQLite sees bytes from a peer: SQLite's
/// own reader is not hardened against hostile input (3.40.1 spins forever on some malformed
/// table headers). It checks the whole structure and returns each table's header.
///
///     table header:  'T', varint column count, one key flag byte per column,
///                    the table name, NUL-terminated (SQLite writes the column's place
///                    in the key, 1, 2, …, as its flag)
///     change:        op (INSERT 0x12, UPDATE 0x17, DELETE 0x09), indirect flag byte (0/1),
///                    the old record (DELETE, UPDATE), the new record (INSERT, UPDATE)
///     record:        one field per column: a type byte, 0 undefined, 5 NULL, 1 integer and
///                    2 real (8 bytes), 3 text and 4 blob (varint length, then the bytes)
struct ChangesetReader {
    struct Table: Equatable {
        var name: String
        var primaryKey: [Bool]
    }

    /// Columns per table at most (SQLite's own ceiling, SQLITE_MAX_COLUMN's largest value).
    static let maxColumns = 32_767

    private let bytes: [UInt8]
    private var i = 0

    private init(_ bytes: [UInt8]) { self.bytes = bytes }

    /// The tables the changeset changes, in order, each with at least one change; throws on
    /// anything that is not exactly a well-formed changeset.
    static func tables(in changeset: [UInt8]) throws(StoreError) -> [Table] {
        var reader = ChangesetReader(changeset)
        return try reader.readAll()
    }

    private static func malformed(_ why: String) -> StoreError {
        StoreError(code: -2, message: "malformed changeset: \(why)")
    }

    private mutating func byte() throws(StoreError) -> UInt8 {
        guard i < bytes.count else { throw Self.malformed("truncated") }
        defer { i += 1 }
        return bytes[i]
    }

    private mutating func skip(_ n: Int) throws(StoreError) {
        guard n >= 0, bytes.count - i >= n else { throw Self.malformed("truncated") }
        i += n
    }

    /// A SQLite varint (big-endian groups of 7 bits, at most 9 bytes, the 9th whole), which
    /// must fit in 31 bits here.
    private mutating func varint() throws(StoreError) -> Int {
        var value: UInt64 = 0
        for index in 0..<9 {
            let b = try byte()
            if index == 8 {
                value = value << 8 | UInt64(b)
                break
            }
            value = value << 7 | UInt64(b & 0x7F)
            if b & 0x80 == 0 { break }
        }
        guard value <= UInt64(Int32.max) else { throw Self.malformed("length \(value) out of range") }
        return Int(value)
    }

    private mutating func readAll() throws(StoreError) -> [Table] {
        var tables: [Table] = []
        var changes = 0
        while i < bytes.count {
            if bytes[i] == 0x54 {   // 'T'
                guard tables.isEmpty || changes > 0 else { throw Self.malformed("table \(tables.last!.name) without changes") }
                i += 1
                tables.append(try tableHeader())
                changes = 0
                continue
            }
            guard let table = tables.last else { throw Self.malformed("change before any table header") }
            try change(columns: table.primaryKey)
            changes += 1
        }
        guard tables.isEmpty || changes > 0 else { throw Self.malformed("table \(tables.last!.name) without changes") }
        return tables
    }

    private mutating func tableHeader() throws(StoreError) -> Table {
        let columns = try varint()
        guard columns >= 1, columns <= Self.maxColumns else { throw Self.malformed("\(columns) columns") }
        var key: [Bool] = []
        key.reserveCapacity(columns)
        for _ in 0..<columns {
            // 0, or the column's place in the key (1 for the first key column, 2 for the next).
            let place = try byte()
            guard place <= columns else { throw Self.malformed("bad primary key flag") }
            key.append(place > 0)
        }
        guard key.contains(true) else { throw Self.malformed("a table without a primary key") }
        let start = i
        while try byte() != 0 {}
        guard let name = String(validating: bytes[start..<(i - 1)], as: UTF8.self), !name.isEmpty else {
            throw Self.malformed("bad table name")
        }
        return Table(name: name, primaryKey: key)
    }

    private mutating func change(columns key: [Bool]) throws(StoreError) {
        let op = try byte()
        guard try byte() <= 1 else { throw Self.malformed("bad indirect flag") }
        switch op {
        case 0x12: try record(key, undefined: .never)                                   // INSERT: new
        case 0x09: try record(key, undefined: .never)                                   // DELETE: old
        case 0x17: try record(key, undefined: .notInKey); try record(key, undefined: .always)   // UPDATE: old, new
        default: throw Self.malformed("bad operation \(op)")
        }
    }

    private enum Undefined { case never, notInKey, always }

    private mutating func record(_ key: [Bool], undefined: Undefined) throws(StoreError) {
        for isKey in key {
            let type = try byte()
            switch type {
            case 0:
                guard undefined == .always || (undefined == .notInKey && !isKey) else { throw Self.malformed("undefined value") }
            case 5: break
            case 1, 2: try skip(8)
            case 3, 4: try skip(try varint())
            default: throw Self.malformed("bad value type \(type)")
            }
        }
    }
}
