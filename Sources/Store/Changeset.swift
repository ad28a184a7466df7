/// SQLite's changeset format (the "CHANGESET FORMAT" comment of SQLite's
/// ext/session/sqlite3session.c): what a log entry's row changes are written in, by
/// `RowChangeRecorder`, and read back, bounds-checked, by `Changeset.parse` before anything
/// is applied. SQLite's own reader is not hardened against hostile input (3.40.1 spins forever
/// on some malformed table headers); this one refuses anything but a well-formed changeset.
///
///     table header:  'T', varint column count, one byte per column (0, or the column's
///                    place in the primary key: 1, 2, ...), the table name, NUL-terminated
///     change:        op (INSERT 0x12, UPDATE 0x17, DELETE 0x09), indirect flag byte (0/1),
///                    the old record (DELETE, UPDATE), the new record (INSERT, UPDATE)
///     record:        one field per column: a type byte, 0 undefined, 5 NULL, 1 integer and
///                    2 real (8 bytes, big-endian), 3 text and 4 blob (varint length, bytes)
///
/// An UPDATE's old record holds the key and the old values of the changed columns; its new
/// record the new values of the changed columns; every other field is undefined.
enum Changeset {
    static let tableMark: UInt8 = 0x54      // 'T'
    static let insert: UInt8 = 0x12
    static let update: UInt8 = 0x17
    static let delete: UInt8 = 0x09

    /// Columns per table at most (SQLite's own ceiling, SQLITE_MAX_COLUMN's largest value).
    static let maxColumns = 32_767

    /// One field of a record: undefined (an UPDATE's unchanged column), or a value.
    enum Field: Equatable {
        case undefined
        case value(SQLValue)
    }

    struct Change: Equatable {
        var op: UInt8
        var old: [Field]
        var new: [Field]
    }

    struct Table: Equatable {
        var name: String
        /// 0, or the column's place in the primary key.
        var keyPlaces: [UInt8]
        var changes: [Change]
        var primaryKey: [Bool] { keyPlaces.map { $0 > 0 } }
    }

    static func malformed(_ why: String) -> StoreError {
        StoreError(code: -2, message: "malformed changeset: \(why)")
    }

    /// The changeset's tables and changes, each table with at least one change; throws on
    /// anything that is not exactly a well-formed changeset (text must be UTF-8).
    static func parse(_ bytes: [UInt8]) throws(StoreError) -> [Table] {
        var reader = Reader(bytes: bytes)
        return try reader.readAll()
    }

    private struct Reader {
        let bytes: [UInt8]
        var i = 0

        mutating func byte() throws(StoreError) -> UInt8 {
            guard i < bytes.count else { throw malformed("truncated") }
            defer { i += 1 }
            return bytes[i]
        }

        mutating func take(_ n: Int) throws(StoreError) -> ArraySlice<UInt8> {
            guard n >= 0, bytes.count - i >= n else { throw malformed("truncated") }
            defer { i += n }
            return bytes[i..<(i + n)]
        }

        /// A SQLite varint (groups of 7 bits, high first, at most 9 bytes, the 9th whole),
        /// which must fit in 31 bits here.
        mutating func varint() throws(StoreError) -> Int {
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
            guard value <= UInt64(Int32.max) else { throw malformed("length \(value) out of range") }
            return Int(value)
        }

        mutating func u64() throws(StoreError) -> UInt64 {
            var v: UInt64 = 0
            for b in try take(8) { v = v << 8 | UInt64(b) }
            return v
        }

        mutating func readAll() throws(StoreError) -> [Table] {
            var tables: [Table] = []
            while i < bytes.count {
                if bytes[i] == tableMark {
                    if let last = tables.last, last.changes.isEmpty { throw malformed("table \(last.name) without changes") }
                    i += 1
                    tables.append(try tableHeader())
                    continue
                }
                guard !tables.isEmpty else { throw malformed("change before any table header") }
                let change = try change(tables[tables.count - 1].keyPlaces)
                tables[tables.count - 1].changes.append(change)
            }
            if let last = tables.last, last.changes.isEmpty { throw malformed("table \(last.name) without changes") }
            return tables
        }

        mutating func tableHeader() throws(StoreError) -> Table {
            let columns = try varint()
            guard columns >= 1, columns <= maxColumns else { throw malformed("\(columns) columns") }
            var places: [UInt8] = []
            places.reserveCapacity(columns)
            for _ in 0..<columns {
                let place = try byte()
                guard place <= columns else { throw malformed("bad primary key flag") }
                places.append(place)
            }
            guard places.contains(where: { $0 > 0 }) else { throw malformed("a table without a primary key") }
            let start = i
            while try byte() != 0 {}
            guard let name = String(validating: bytes[start..<(i - 1)], as: UTF8.self), !name.isEmpty else {
                throw malformed("bad table name")
            }
            return Table(name: name, keyPlaces: places, changes: [])
        }

        mutating func change(_ key: [UInt8]) throws(StoreError) -> Change {
            let op = try byte()
            guard try byte() <= 1 else { throw malformed("bad indirect flag") }
            switch op {
            case insert: return Change(op: op, old: [], new: try record(key, undefined: .never))
            case delete: return Change(op: op, old: try record(key, undefined: .never), new: [])
            case update:
                let old = try record(key, undefined: .outsideKey)
                let new = try record(key, undefined: .always)
                return Change(op: op, old: old, new: new)
            default: throw malformed("bad operation \(op)")
            }
        }

        enum Undefined { case never, outsideKey, always }

        mutating func record(_ key: [UInt8], undefined: Undefined) throws(StoreError) -> [Field] {
            var fields: [Field] = []
            fields.reserveCapacity(key.count)
            for place in key {
                let type = try byte()
                switch type {
                case 0:
                    guard undefined == .always || (undefined == .outsideKey && place == 0) else { throw malformed("undefined value") }
                    fields.append(.undefined)
                case 5: fields.append(.value(.null))
                case 1: fields.append(.value(.int(Int64(bitPattern: try u64()))))
                case 2: fields.append(.value(.double(Double(bitPattern: try u64()))))
                case 3:
                    guard let text = String(validating: try take(try varint()), as: UTF8.self) else { throw malformed("text not UTF-8") }
                    fields.append(.value(.text(text)))
                case 4: fields.append(.value(.blob(Array(try take(try varint())))))
                default: throw malformed("bad value type \(type)")
                }
            }
            return fields
        }
    }

    /// The value of one encoded field (a key field the recorder kept).
    static func value(of field: ArraySlice<UInt8>) throws(StoreError) -> SQLValue {
        var reader = Reader(bytes: Array(field))
        guard case .value(let value) = try reader.record([1], undefined: .never)[0] else { throw malformed("undefined value") }
        return value
    }

    // MARK: Writing

    /// A SQLite varint for `value` (at most 2^56 - 1: 8 groups of 7 bits, high first).
    static func putVarint(_ value: Int, _ out: inout [UInt8]) {
        let x = UInt64(value)
        var shift = 0
        while shift < 49, x >> UInt64(shift + 7) != 0 { shift += 7 }
        while shift > 0 {
            out.append(UInt8(truncatingIfNeeded: x >> UInt64(shift)) & 0x7F | 0x80)
            shift -= 7
        }
        out.append(UInt8(x & 0x7F))
    }

    static func put64(_ v: UInt64, _ out: inout [UInt8]) {
        for shift in stride(from: 56, through: 0, by: -8) { out.append(UInt8(truncatingIfNeeded: v >> UInt64(shift))) }
    }
}
