import CSystem

/// Applies a primary's changeset to a follower's copy, inside the open transaction, with
/// statements made once per table and shape of change (and prepared once: `Database` caches them) (SQLite's `sqlite3changeset_apply_v2`
/// prepares its statements anew at each call: ~150 µs per small entry here, docs/BENCHMARKS.md).
/// Its rules are `sqlite3changeset_apply_v2`'s with a conflict handler that aborts on any
/// conflict, and the tests check the two agree:
///
/// - a DELETE must find the row with every old value (else "not found" or "data");
/// - an UPDATE must find the row by its key with the old values of the changed columns;
/// - an INSERT must not find its key taken ("conflict");
/// - a change that breaks another constraint (a unique index, NOT NULL, a foreign key) is
///   tried again once the rest is applied, as SQLite does (a unique value may move between
///   rows in one commit, in either order); if it still fails, "constraint".
///
/// Any conflict throws `diverged`: the copies differ. The caller rolls back.
final class RowChangeApplier {
    /// A replicated table's columns, for the statements.
    struct TableInfo {
        var name: String
        var columns: [String]
        var keyColumns: [Int]
        var primaryKey: [Bool]
        /// The statements' SQL that depends on the table alone, made once.
        var insertSQL = ""
        var deleteSQL = ""
        var existsSQL = ""
    }

    let db: Database
    private let tables: [String: TableInfo]
    /// An update's SQL per table and set of changed columns, made once each.
    private var updateSQL: [UpdateShape: String] = [:]

    private struct UpdateShape: Hashable {
        var table: String
        var columns: [Int]
    }

    init(db: Database, tables: [RowChanges.Table]) {
        self.db = db
        var infos: [String: TableInfo] = [:]
        for table in tables {
            var info = TableInfo(name: table.name, columns: table.columns, keyColumns: table.keyColumns, primaryKey: table.primaryKey)
            let quoted = "\"\(table.name)\""
            info.insertSQL = "INSERT INTO \(quoted)(" + table.columns.map { "\"\($0)\"" }.joined(separator: ",")
                + ") VALUES(" + Array(repeating: "?", count: table.columns.count).joined(separator: ",") + ")"
            info.deleteSQL = "DELETE FROM \(quoted) WHERE " + Self.whereClause(info, columns: Array(table.columns.indices))
            info.existsSQL = "SELECT 1 FROM \(quoted) WHERE " + Self.whereClause(info, columns: info.keyColumns)
            infos[table.name] = info
        }
        self.tables = infos
    }

    private struct Pending {
        var table: TableInfo
        var change: Changeset.Change
    }

    /// Checks each table of the changeset against this copy's (one it replicates, in the same
    /// shape: else the copies run different schemas, a divergence too), then applies it.
    func apply(_ parsed: [Changeset.Table]) throws(StoreError) {
        var retry: [Pending] = []
        for table in parsed {
            guard let info = tables[table.name] else {
                throw .diverged("the entry changes table \(table.name), which this copy does not replicate")
            }
            guard info.primaryKey == table.primaryKey else {
                throw .diverged("the entry's table \(table.name) has \(table.keyPlaces.count) columns (key \(table.primaryKey)), here \(info.columns.count) (key \(info.primaryKey))")
            }
            for change in table.changes {
                if try !attempt(change, info) { retry.append(Pending(table: info, change: change)) }
            }
        }
        // Constraint failures again, while some succeed.
        while !retry.isEmpty {
            var left: [Pending] = []
            for pending in retry where try !attempt(pending.change, pending.table) { left.append(pending) }
            if left.count == retry.count {
                throw .diverged("constraint: \(left.count) row(s) of \(left[0].table.name) break a constraint of this copy")
            }
            retry = left
        }
    }

    /// Applies one change: true when done, false when a constraint (other than the key)
    /// refused it for now; throws on a conflict.
    private func attempt(_ change: Changeset.Change, _ table: TableInfo) throws(StoreError) -> Bool {
        switch change.op {
        case Changeset.insert:
            let values = try defined(change.new, table)
            do {
                try db.run(table.insertSQL, arguments: values)
                return true
            } catch where error.code == SQLITE_CONSTRAINT {
                if try exists(table, key: table.keyColumns.map { values[$0] }) {
                    throw .diverged("conflict: a row inserted into \(table.name) is here already")
                }
                return false
            }
        case Changeset.delete:
            let values = try defined(change.old, table)
            do {
                if try db.run(table.deleteSQL, arguments: values) != 1 { try mismatch(table, key: table.keyColumns.map { values[$0] }) }
                return true
            } catch where error.code == SQLITE_CONSTRAINT {
                return false   // a foreign key still pointing at the row: after the rest
            }
        default:
            var set: [Int] = [], newValues: [SQLValue] = [], oldValues: [SQLValue] = []
            for column in change.new.indices {
                guard case .value(let new) = change.new[column] else { continue }
                guard case .value(let old) = change.old[column] else { throw Changeset.malformed("an update without the old value") }
                set.append(column)
                newValues.append(new)
                oldValues.append(old)
            }
            var key: [SQLValue] = []
            for column in table.keyColumns {
                guard case .value(let value) = change.old[column] else { throw Changeset.malformed("an update without its key") }
                key.append(value)
            }
            guard !set.isEmpty, set.allSatisfy({ !table.keyColumns.contains($0) }) else {
                throw Changeset.malformed("an update that changes no column, or the key")
            }
            let shape = UpdateShape(table: table.name, columns: set)
            let sql: String
            if let made = updateSQL[shape] {
                sql = made
            } else {
                sql = "UPDATE \"\(table.name)\" SET " + set.map { "\"\(table.columns[$0])\"=?" }.joined(separator: ",")
                    + " WHERE " + Self.whereClause(table, columns: table.keyColumns + set)
                updateSQL[shape] = sql
            }
            do {
                if try db.run(sql, arguments: newValues + key + oldValues) != 1 { try mismatch(table, key: key) }
                return true
            } catch where error.code == SQLITE_CONSTRAINT {
                return false
            }
        }
    }

    private func defined(_ fields: [Changeset.Field], _ table: TableInfo) throws(StoreError) -> [SQLValue] {
        guard fields.count == table.columns.count else { throw Changeset.malformed("a record of \(fields.count) fields") }
        var values: [SQLValue] = []
        values.reserveCapacity(fields.count)
        for field in fields {
            guard case .value(let value) = field else { throw Changeset.malformed("an undefined value") }
            values.append(value)
        }
        return values
    }

    /// Key columns compare with `=` (never NULL here, and it uses the key's index), the others
    /// with `IS`, which also matches NULL.
    private static func whereClause(_ table: TableInfo, columns: [Int]) -> String {
        columns.map { table.keyColumns.contains($0) ? "\"\(table.columns[$0])\"=?" : "\"\(table.columns[$0])\" IS ?" }
            .joined(separator: " AND ")
    }

    private func exists(_ table: TableInfo, key: [SQLValue]) throws(StoreError) -> Bool {
        try db.queryOne(table.existsSQL, arguments: key) != nil
    }

    /// A delete or update that found no row to change: which conflict it was.
    private func mismatch(_ table: TableInfo, key: [SQLValue]) throws(StoreError) {
        if try exists(table, key: key) {
            throw .diverged("data: a row of \(table.name) holds other values here")
        }
        throw .diverged("not found: a row of \(table.name) is missing here")
    }
}
