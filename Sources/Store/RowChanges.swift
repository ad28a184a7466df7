/// A shard's row changes: what a log entry carries (docs/REPLICATION.md "The log carries row
/// changes"). The primary's `RowChangeRecorder` writes each commit's changes as a changeset
/// (SQLite's session format, `Changeset`); a follower checks it against its own tables and
/// applies it with `RowChangeApplier`, any conflict meaning divergence. A follower never
/// executes statements received from a peer.
enum RowChanges {
    /// The table that is never replicated: each copy writes its own log rows.
    static let logTable = "shard_log"

    /// A replicated table: its columns in order and its primary key.
    struct Table: Equatable {
        var name: String
        var columns: [String]
        /// 0, or the column's place in the primary key (1, 2, ...), as a changeset writes it.
        var keyPlaces: [UInt8]
        var keyColumns: [Int] { keyPlaces.indices.filter { keyPlaces[$0] > 0 } }
        var primaryKey: [Bool] { keyPlaces.map { $0 > 0 } }
    }

    /// The replicated tables of `db` (every table but the log). A row change is found by its
    /// primary key, so a table without one, or whose key may hold a NULL (which only a rowid
    /// table's non-INTEGER key allows), is refused here instead of replicating wrongly.
    static func tables(of db: Database) throws(StoreError) -> [Table] {
        var out: [Table] = []
        let tables = try db.query("""
            SELECT name, wr FROM pragma_table_list WHERE schema='main' AND type='table' AND name NOT LIKE 'sqlite_%' ORDER BY name
            """)
        for row in tables {
            guard let table = row.text(0), table != logTable else { continue }
            let withoutRowid = row.int(1) == 1
            let columns = try db.query("SELECT name, pk, \"notnull\", upper(type) FROM pragma_table_info(?) ORDER BY cid", .text(table))
            let key = columns.filter { ($0.int(1) ?? 0) > 0 }
            let keyNeverNull = withoutRowid || key.allSatisfy { $0.int(2) == 1 }
                || (key.count == 1 && key[0].text(3) == "INTEGER")
            guard !key.isEmpty, keyNeverNull, columns.count <= Changeset.maxColumns else {
                throw StoreError(code: -1, message: "\(db.path): table \(table) cannot be replicated: it needs a primary key that is never NULL")
            }
            out.append(Table(name: table, columns: columns.map { $0.text(0) ?? "" },
                             keyPlaces: columns.map { UInt8(clamping: $0.int(1) ?? 0) }))
        }
        return out
    }
}
