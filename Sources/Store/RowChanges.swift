import CSystem
import Glibc

/// A shard's row changes, as SQLite's session extension records and applies them
/// (https://sqlite.org/sessionintro.html): what a log entry carries (docs/REPLICATION.md "The
/// log carries row changes"). A follower applies the primary's changes; it never executes
/// statements received from a peer.
enum RowChanges {
    /// The table that is never replicated: each copy writes its own log rows.
    static let logTable = "shard_log"

    /// One open transaction's row changes: a session attached to every table but the log.
    /// SQLite sessions cannot be reset, so each transaction gets a fresh one (created at its
    /// first write, deleted at its commit or rollback).
    final class Recorder {
        private var session: OpaquePointer?

        init(_ db: Database) throws(StoreError) {
            var session: OpaquePointer?
            let rc = sqlite3session_create(db.handle, "main", &session)
            guard rc == SQLITE_OK, let session else { throw db.lastError(rc) }
            self.session = session
            sqlite3session_table_filter(session, { _, name in
                guard let name else { return 0 }
                return RowChanges.logTable.withCString { strcmp(name, $0) } == 0 ? 0 : 1
            }, nil)
            let attached = sqlite3session_attach(session, nil)
            guard attached == SQLITE_OK else {
                sqlite3session_delete(session)
                self.session = nil
                throw db.lastError(attached)
            }
        }

        deinit { close() }

        /// Stops recording and frees the session.
        func close() {
            if let session { sqlite3session_delete(session) }
            session = nil
        }

        /// The changes so far, as a changeset: empty when the transaction changed no row (an
        /// update to the same values is no change).
        func changeset() throws(StoreError) -> [UInt8] {
            guard let session, sqlite3session_isempty(session) == 0 else { return [] }
            var size: Int32 = 0
            var bytes: UnsafeMutableRawPointer?
            let rc = sqlite3session_changeset(session, &size, &bytes)
            defer { sqlite3_free(bytes) }
            guard rc == SQLITE_OK else { throw StoreError(code: rc, message: "cannot take the transaction's changeset") }
            guard let bytes, size > 0 else { return [] }
            return Array(UnsafeRawBufferPointer(start: bytes, count: Int(size)))
        }
    }

    /// What a table looks like here: its column count and which columns form its primary key.
    struct TableShape: Equatable {
        var columns: Int
        var primaryKey: [Bool]
    }

    /// The replicated tables of `db` (every table but the log) and their shapes. A session
    /// silently skips a table without a primary key, and a row whose key holds a NULL (which
    /// only a rowid table's non-INTEGER key allows): such a table is refused here instead.
    static func shapes(of db: Database) throws(StoreError) -> [String: TableShape] {
        var shapes: [String: TableShape] = [:]
        let tables = try db.query("""
            SELECT name, wr FROM pragma_table_list WHERE schema='main' AND type='table' AND name NOT LIKE 'sqlite_%' ORDER BY name
            """)
        for row in tables {
            guard let table = row.text(0), table != logTable else { continue }
            let withoutRowid = row.int(1) == 1
            let columns = try db.query("SELECT pk, \"notnull\", upper(type) FROM pragma_table_info(?)", .text(table))
            let key = columns.filter { ($0.int(0) ?? 0) > 0 }
            let keyNeverNull = withoutRowid || key.allSatisfy { $0.int(1) == 1 }
                || (key.count == 1 && key[0].text(2) == "INTEGER")
            guard !key.isEmpty, keyNeverNull else {
                throw StoreError(code: -1, message: "\(db.path): table \(table) cannot be replicated: it needs a primary key that is never NULL")
            }
            shapes[table] = TableShape(columns: columns.count, primaryKey: columns.map { ($0.int(0) ?? 0) > 0 })
        }
        return shapes
    }

    /// Checks that `changeset` is well formed (`ChangesetReader`: SQLite's reader is not
    /// hardened against hostile bytes) and that every change is to a replicated table this copy
    /// has, in the same shape: SQLite would silently skip a change to a table it lacks or
    /// that has fewer columns.
    static func check(_ changeset: [UInt8], against shapes: [String: TableShape]) throws(StoreError) {
        for table in try ChangesetReader.tables(in: changeset) {
            guard let local = shapes[table.name] else {
                throw .diverged("the entry changes table \(table.name), which this copy does not replicate")
            }
            let shape = TableShape(columns: table.primaryKey.count, primaryKey: table.primaryKey)
            guard local == shape else {
                throw .diverged("the entry's table \(table.name) has \(shape.columns) columns (key \(shape.primaryKey)), here \(local.columns) (key \(local.primaryKey))")
            }
        }
    }

    /// What a conflict handler saw first: the conflict and the table.
    final class Conflict {
        var kind: Int32 = 0
        var table = ""
        var name: String {
            switch kind {
            case SQLITE_CHANGESET_DATA: return "data (the row's values differ)"
            case SQLITE_CHANGESET_NOTFOUND: return "not found (the row is missing)"
            case SQLITE_CHANGESET_CONFLICT: return "conflict (the row already exists)"
            case SQLITE_CHANGESET_CONSTRAINT: return "constraint"
            case SQLITE_CHANGESET_FOREIGN_KEY: return "foreign key"
            default: return "kind \(kind)"
            }
        }
    }

    /// Applies `changeset` inside the open transaction. Any conflict means this copy is not
    /// the primary's: the apply aborts (its savepoint rolled back) and throws `diverged`.
    static func apply(_ changeset: [UInt8], to db: Database) throws(StoreError) {
        guard !changeset.isEmpty else { return }
        let conflict = Conflict()
        var bytes = changeset
        let rc: Int32 = bytes.withUnsafeMutableBytes { raw in
            sqlite3changeset_apply_v2(db.handle, Int32(raw.count), raw.baseAddress, nil, { context, kind, iterator in
                let conflict = Unmanaged<Conflict>.fromOpaque(context!).takeUnretainedValue()
                if conflict.kind == 0 {
                    conflict.kind = kind
                    var name: UnsafePointer<CChar>?
                    var columns: Int32 = 0, op: Int32 = 0, indirect: Int32 = 0
                    if sqlite3changeset_op(iterator, &name, &columns, &op, &indirect) == SQLITE_OK, let name {
                        conflict.table = String(cString: name)
                    }
                }
                return SQLITE_CHANGESET_ABORT
            }, Unmanaged.passUnretained(conflict).toOpaque(), nil, nil, 0)
        }
        if conflict.kind != 0 {
            throw .diverged("the entry's row changes conflict with this copy: \(conflict.name) in \(conflict.table)")
        }
        guard rc == SQLITE_OK else { throw db.lastError(rc) }
    }
}
