import CSystem
import Glibc

/// Records the open transaction's row changes from SQLite's preupdate hook, and writes them
/// as a changeset (`Changeset`): what SQLite's session extension does, without its fixed cost.
/// A session cannot be reset, so it would be made per transaction, and it prepares a
/// `PRAGMA table_info` per table at the first change and a `SELECT` per table when the
/// changeset is taken: ~200 µs per small commit here (docs/BENCHMARKS.md "The log's cost per
/// commit"). This recorder lives as long as its store and is reset at each commit or
/// rollback; it keeps an inserted or deleted row's values as the hook hands them over, and an
/// updated row's old values, and reads an updated row's new values once at the commit with a
/// statement prepared once (a conversation's row is updated by every message of a turn). The
/// tests check its changesets against the session extension's.
///
/// Within a transaction, a row's changes fold into one, as a session folds them: insert then
/// update is an insert of the last values, insert then delete is nothing, delete then insert
/// is an update, update then update keeps the first old and the last new values, and an
/// update that changed nothing in the end is left out. An update that changes a row's key is
/// a delete of the old key and an insert of the new one.
final class RowChangeRecorder {
    /// A replicated table as the recorder sees it.
    struct TableInfo {
        var name: String
        var columns: [String]
        var keyPlaces: [UInt8]
        let keyColumns: [Int]

        init(name: String, columns: [String], keyPlaces: [UInt8]) {
            self.name = name
            self.columns = columns
            self.keyPlaces = keyPlaces
            keyColumns = keyPlaces.indices.filter { keyPlaces[$0] > 0 }
        }

        /// The current row by its key, to read an updated row's values once, at the commit.
        var selectSQL: String {
            "SELECT " + columns.map { "\"\($0)\"" }.joined(separator: ",") + " FROM \"\(name)\" WHERE "
                + keyColumns.map { "\"\(columns[$0])\"=?" }.joined(separator: " AND ")
        }
    }

    private enum Op { case insert, delete, update, none }

    /// One row's values as changeset fields, back to back; `ends[i]` is where field i ends.
    private struct Record {
        var bytes: [UInt8] = []
        var ends: [Int] = []

        func field(_ i: Int) -> ArraySlice<UInt8> { bytes[(i == 0 ? 0 : ends[i - 1])..<ends[i]] }
    }

    private struct Change {
        var table: Int
        var op: Op
        var old: Record?
        var new: Record?
        /// The row was updated since `new` was read (or `new` was never read): the commit
        /// reads its values from the table, once, instead of the hook at every update.
        var stale = false
    }

    private struct RowKey: Hashable {
        var table: Int
        var key: [UInt8]

        /// The key's bytes in one go (an array of bytes would hash them one at a time).
        func hash(into hasher: inout Hasher) {
            hasher.combine(table)
            key.withUnsafeBytes { hasher.combine(bytes: $0) }
        }
    }

    private let db: Database
    private let tables: [TableInfo]
    private let selects: [String]
    private let keyColumns: [[Int]]
    private let columnCounts: [Int]
    /// The tables' names as C strings, to match the hook's table name without allocating.
    private let names: [[CChar]]
    private var changes: [Change] = []
    private var rows: [RowKey: Int] = [:]
    /// True while a follower applies a primary's changes: they are not this copy's own.
    var paused = false
    /// Set when the hook saw what it cannot record (a column count that is not the table's,
    /// an impossible sequence): the transaction must not be sealed.
    private(set) var broken: String?

    init(db: Database, tables: [TableInfo]) {
        self.db = db
        self.tables = tables
        selects = tables.map(\.selectSQL)
        keyColumns = tables.map(\.keyColumns)
        columnCounts = tables.map(\.columns.count)
        names = tables.map { Array($0.name.utf8CString) }
        sqlite3_preupdate_hook(db.handle, preupdateHook, Unmanaged.passUnretained(self).toOpaque())
    }

    deinit { detach() }

    /// Removes the hook, unless another recorder replaced it meanwhile (a store reopened over
    /// the same in-memory connection after a simulated crash): then that one's stays.
    func detach() {
        guard let handle = db.handle else { return }
        let me = Unmanaged.passUnretained(self).toOpaque()
        let previous = sqlite3_preupdate_hook(handle, nil, nil)
        if let previous, previous != me { sqlite3_preupdate_hook(handle, preupdateHook, previous) }
    }

    var isEmpty: Bool { changes.isEmpty }

    /// Forgets what was recorded (after a commit or a rollback).
    func reset() {
        changes.removeAll(keepingCapacity: true)
        rows.removeAll(keepingCapacity: true)
        broken = nil
    }

    // MARK: Recording

    private typealias ValueReader = (OpaquePointer?, Int32, UnsafeMutablePointer<OpaquePointer?>?) -> Int32

    fileprivate func record(_ handle: OpaquePointer, op: Int32, database: UnsafePointer<CChar>, table name: UnsafePointer<CChar>) {
        guard !paused, strcmp(database, "main") == 0,
              let table = names.firstIndex(where: { strcmp($0, name) == 0 }) else { return }
        let columns = Int(sqlite3_preupdate_count(handle))
        guard columns == columnCounts[table] else {
            broken = "table \(tables[table].name) has \(columns) columns, not \(tables[table].keyPlaces.count)"
            return
        }
        switch op {
        case SQLITE_INSERT:
            let new = record(handle, columns, sqlite3_preupdate_new)
            note(RowKey(table: table, key: key(handle, table, sqlite3_preupdate_new)), .insert, old: nil, new: new)
        case SQLITE_DELETE:
            let old = record(handle, columns, sqlite3_preupdate_old)
            note(RowKey(table: table, key: key(handle, table, sqlite3_preupdate_old)), .delete, old: old, new: nil)
        case SQLITE_UPDATE:
            let oldKey = RowKey(table: table, key: key(handle, table, sqlite3_preupdate_old))
            let newKey = RowKey(table: table, key: key(handle, table, sqlite3_preupdate_new))
            if oldKey != newKey {
                note(oldKey, .delete, old: record(handle, columns, sqlite3_preupdate_old), new: nil)
                note(newKey, .insert, old: nil, new: record(handle, columns, sqlite3_preupdate_new))
            } else {
                // The first old values are read now (a row changed before in this transaction
                // keeps its first ones); the new ones at the commit, however often it changes.
                let old = rows[oldKey] == nil ? record(handle, columns, sqlite3_preupdate_old) : nil
                note(oldKey, .update, old: old, new: nil)
            }
        default:
            broken = "preupdate op \(op)"
        }
    }

    private func record(_ handle: OpaquePointer, _ columns: Int, _ read: ValueReader) -> Record {
        var record = Record()
        record.ends.reserveCapacity(columns)
        for column in 0..<columns {
            Self.encode(value(handle, column, read), into: &record.bytes)
            record.ends.append(record.bytes.count)
        }
        return record
    }

    /// The key columns' fields, back to back: the row's identity.
    private func key(_ handle: OpaquePointer, _ table: Int, _ read: ValueReader) -> [UInt8] {
        var key: [UInt8] = []
        key.reserveCapacity(32)
        for column in keyColumns[table] { Self.encode(value(handle, column, read), into: &key) }
        return key
    }

    private func value(_ handle: OpaquePointer, _ column: Int, _ read: ValueReader) -> OpaquePointer? {
        var value: OpaquePointer?
        guard read(handle, Int32(column), &value) == SQLITE_OK else {
            broken = "cannot read column \(column)"
            return nil
        }
        return value
    }

    /// One value as a changeset field.
    static func encode(_ value: OpaquePointer?, into out: inout [UInt8]) {
        switch sqlite3_value_type(value) {
        case SQLITE_INTEGER:
            out.append(1)
            Changeset.put64(UInt64(bitPattern: sqlite3_value_int64(value)), &out)
        case SQLITE_FLOAT:
            out.append(2)
            Changeset.put64(sqlite3_value_double(value).bitPattern, &out)
        case SQLITE_TEXT:
            let text = sqlite3_value_text(value)   // before _bytes, as SQLite asks
            let count = Int(sqlite3_value_bytes(value))
            out.append(3)
            Changeset.putVarint(count, &out)
            if let text, count > 0 { out.append(contentsOf: UnsafeBufferPointer(start: text, count: count)) }
        case SQLITE_BLOB:
            let blob = sqlite3_value_blob(value)
            let count = Int(sqlite3_value_bytes(value))
            out.append(4)
            Changeset.putVarint(count, &out)
            if let blob, count > 0 { out.append(contentsOf: UnsafeRawBufferPointer(start: blob, count: count)) }
        default:
            out.append(5)
        }
    }

    private func note(_ row: RowKey, _ op: Op, old: Record?, new: Record?) {
        guard let index = rows[row] else {
            rows[row] = changes.count
            changes.append(Change(table: row.table, op: op, old: old, new: new, stale: op == .update))
            return
        }
        switch (changes[index].op, op) {
        case (.insert, .update), (.update, .update):
            changes[index].stale = true
        case (.insert, .delete):
            changes[index].op = .none
            changes[index].new = nil
            changes[index].stale = false
        case (.update, .delete):
            changes[index].op = .delete
            changes[index].new = nil
            changes[index].stale = false
        case (.delete, .insert):
            changes[index].op = .update
            changes[index].new = new
        case (.none, .insert):
            changes[index].op = .insert
            changes[index].new = new
        default:
            broken = "a \(op) after a \(changes[index].op) of one row of \(tables[row.table].name)"
        }
    }

    // MARK: Writing

    /// The recorded changes as a changeset (empty when no row changed), grouped by table in
    /// the order the tables were first changed, rows in the order they were first changed.
    func changeset() throws(StoreError) -> [UInt8] {
        // One preupdate hook per connection: were it replaced (a session created on this
        // connection installs its own), changes would have gone unrecorded.
        if let handle = db.handle {
            let me = Unmanaged.passUnretained(self).toOpaque()
            let previous = sqlite3_preupdate_hook(handle, preupdateHook, me)
            if previous != me { broken = "another preupdate hook replaced the recorder's" }
        }
        if let broken { throw StoreError(code: -1, message: "the transaction's row changes cannot be recorded: \(broken)") }
        guard !changes.isEmpty else { return [] }
        for index in changes.indices where changes[index].stale { try refresh(index) }
        var out: [UInt8] = []
        out.reserveCapacity(changes.reduce(64) { $0 + 8 + ($1.old?.bytes.count ?? 0) + ($1.new?.bytes.count ?? 0) })
        var written = [Bool](repeating: false, count: tables.count)
        for first in changes where !written[first.table] {
            let table = first.table
            written[table] = true
            let info = tables[table]
            let header = out.count
            out.append(Changeset.tableMark)
            Changeset.putVarint(info.keyPlaces.count, &out)
            out += info.keyPlaces
            out += info.name.utf8
            out.append(0)
            let body = out.count
            for change in changes where change.table == table { append(change, info, &out) }
            if out.count == body { out.removeSubrange(header...) }   // every change folded away
        }
        return out
    }

    /// Reads an updated row's current values (its key is in the values read before).
    private func refresh(_ index: Int) throws(StoreError) {
        let change = changes[index]
        let info = tables[change.table]
        guard let known = change.old ?? change.new else {
            throw StoreError(code: -1, message: "the transaction's row changes cannot be recorded: a row of \(info.name) without values")
        }
        var key: [SQLValue] = []
        for column in info.keyColumns { key.append(try Changeset.value(of: known.field(column))) }
        let statement = try db.prepare(selects[change.table])
        defer { statement.reset() }
        try statement.bind(key)
        guard try statement.step() else {
            throw StoreError(code: -1, message: "the transaction's row changes cannot be recorded: an updated row of \(info.name) is gone")
        }
        var record = Record()
        for column in info.columns.indices {
            Self.encode(statement.columnValue(column), into: &record.bytes)
            record.ends.append(record.bytes.count)
        }
        changes[index].new = record
        changes[index].stale = false
    }

    private func append(_ change: Change, _ info: TableInfo, _ out: inout [UInt8]) {
        switch change.op {
        case .none:
            return
        case .insert:
            guard let new = change.new else { return }
            out.append(Changeset.insert)
            out.append(0)
            out += new.bytes
        case .delete:
            guard let old = change.old else { return }
            out.append(Changeset.delete)
            out.append(0)
            out += old.bytes
        case .update:
            guard let old = change.old, let new = change.new else { return }
            let columns = info.keyPlaces.indices
            guard columns.contains(where: { old.field($0) != new.field($0) }) else { return }
            out.append(Changeset.update)
            out.append(0)
            for column in columns {
                if info.keyPlaces[column] > 0 || old.field(column) != new.field(column) { out += old.field(column) } else { out.append(0) }
            }
            for column in columns {
                if old.field(column) != new.field(column) { out += new.field(column) } else { out.append(0) }
            }
        }
    }
}

/// The preupdate hook: a C function, so it finds its recorder through the context pointer.
private let preupdateHook: @convention(c) (UnsafeMutableRawPointer?, OpaquePointer?, Int32, UnsafePointer<CChar>?,
                                           UnsafePointer<CChar>?, Int64, Int64) -> Void = { context, handle, op, database, table, _, _ in
    guard let context, let handle, let database, let table else { return }
    Unmanaged<RowChangeRecorder>.fromOpaque(context).takeUnretainedValue().record(handle, op: op, database: database, table: table)
}
