import CSystem
import Glibc

/// Records the open transaction's row changes from SQLite's preupdate hook, and writes them
/// as a changeset (`Changeset`): what SQLite's session extension does, without its fixed cost.
/// A session cannot be reset, so it would be made per transaction, and it prepares a
/// `PRAGMA table_info` per table at the first change and a `SELECT` per table when the
/// changeset is taken: ~230 µs per small commit here (docs/BENCHMARKS.md "The log's cost per
/// commit"). This recorder lives as long as its store, is reset at each commit or rollback,
/// and keeps each row's values as the hook hands them over, so taking a changeset prepares
/// nothing. The tests check its changesets against the session extension's.
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
        var keyPlaces: [UInt8]
        var keyColumns: [Int]
    }

    private enum Op { case insert, delete, update, none }

    private struct Change {
        var table: Int
        var op: Op
        /// Encoded fields (`Changeset` record format), one per column; empty when absent.
        var old: [[UInt8]]
        var new: [[UInt8]]
    }

    private struct RowKey: Hashable {
        var table: Int
        var key: [UInt8]
    }

    private let db: Database
    private let tables: [TableInfo]
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

    fileprivate func record(_ handle: OpaquePointer, op: Int32, database: UnsafePointer<CChar>, table name: UnsafePointer<CChar>) {
        guard !paused, strcmp(database, "main") == 0,
              let table = names.firstIndex(where: { strcmp($0, name) == 0 }) else { return }
        let columns = Int(sqlite3_preupdate_count(handle))
        guard columns == tables[table].keyPlaces.count else {
            broken = "table \(tables[table].name) has \(columns) columns, not \(tables[table].keyPlaces.count)"
            return
        }
        var old: [[UInt8]] = [], new: [[UInt8]] = []
        if op != SQLITE_INSERT { old = fields(handle, columns, sqlite3_preupdate_old) }
        if op != SQLITE_DELETE { new = fields(handle, columns, sqlite3_preupdate_new) }
        switch op {
        case SQLITE_INSERT: note(table, .insert, old: [], new: new)
        case SQLITE_DELETE: note(table, .delete, old: old, new: [])
        case SQLITE_UPDATE where key(table, old) != key(table, new):
            note(table, .delete, old: old, new: [])
            note(table, .insert, old: [], new: new)
        case SQLITE_UPDATE: note(table, .update, old: old, new: new)
        default: broken = "preupdate op \(op)"
        }
    }

    private typealias ValueReader = (OpaquePointer?, Int32, UnsafeMutablePointer<OpaquePointer?>?) -> Int32

    private func fields(_ handle: OpaquePointer, _ columns: Int, _ read: ValueReader) -> [[UInt8]] {
        var out: [[UInt8]] = []
        out.reserveCapacity(columns)
        for column in 0..<columns {
            var value: OpaquePointer?
            guard read(handle, Int32(column), &value) == SQLITE_OK else {
                broken = "cannot read column \(column)"
                out.append([5])
                continue
            }
            out.append(Self.encode(value))
        }
        return out
    }

    /// One value as a changeset field.
    static func encode(_ value: OpaquePointer?) -> [UInt8] {
        var out: [UInt8] = []
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
        return out
    }

    private func key(_ table: Int, _ fields: [[UInt8]]) -> [UInt8] {
        var key: [UInt8] = []
        for column in tables[table].keyColumns { key += fields[column] }
        return key
    }

    private func note(_ table: Int, _ op: Op, old: [[UInt8]], new: [[UInt8]]) {
        let row = RowKey(table: table, key: key(table, op == .insert ? new : old))
        guard let index = rows[row] else {
            rows[row] = changes.count
            changes.append(Change(table: table, op: op, old: old, new: new))
            return
        }
        var change = changes[index]
        switch (change.op, op) {
        case (.insert, .update), (.update, .update):
            change.new = new
        case (.insert, .delete):
            change.op = .none
            change.new = []
        case (.update, .delete):
            change.op = .delete
            change.new = []
        case (.delete, .insert):
            change.op = .update
            change.new = new
        case (.none, .insert):
            change.op = .insert
            change.new = new
        default:
            broken = "a \(op) after a \(change.op) of one row of \(tables[table].name)"
        }
        changes[index] = change
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
        var byTable: [[Int]] = Array(repeating: [], count: tables.count)
        var order: [Int] = []
        for (index, change) in changes.enumerated() {
            if byTable[change.table].isEmpty { order.append(change.table) }
            byTable[change.table].append(index)
        }
        var out: [UInt8] = []
        for table in order {
            let info = tables[table]
            var body: [UInt8] = []
            for index in byTable[table] { append(changes[index], info, &body) }
            guard !body.isEmpty else { continue }
            out.append(Changeset.tableMark)
            Changeset.putVarint(info.keyPlaces.count, &out)
            out += info.keyPlaces
            out += Array(info.name.utf8)
            out.append(0)
            out += body
        }
        return out
    }

    private func append(_ change: Change, _ info: TableInfo, _ out: inout [UInt8]) {
        switch change.op {
        case .none:
            return
        case .insert:
            out += [Changeset.insert, 0]
            for field in change.new { out += field }
        case .delete:
            out += [Changeset.delete, 0]
            for field in change.old { out += field }
        case .update:
            let changed = (0..<info.keyPlaces.count).map { change.old[$0] != change.new[$0] }
            guard changed.contains(true) else { return }
            out += [Changeset.update, 0]
            for column in changed.indices { out += info.keyPlaces[column] > 0 || changed[column] ? change.old[column] : [0] }
            for column in changed.indices { out += changed[column] ? change.new[column] : [0] }
        }
    }
}

/// The preupdate hook: a C function, so it finds its recorder through the context pointer.
private let preupdateHook: @convention(c) (UnsafeMutableRawPointer?, OpaquePointer?, Int32, UnsafePointer<CChar>?,
                                           UnsafePointer<CChar>?, Int64, Int64) -> Void = { context, handle, op, database, table, _, _ in
    guard let context, let handle, let database, let table else { return }
    Unmanaged<RowChangeRecorder>.fromOpaque(context).takeUnretainedValue().record(handle, op: op, database: database, table: table)
}
