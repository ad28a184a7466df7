/// Schema versions: `PRAGMA user_version` holds the number of migrations applied. Each
/// migration runs once, in order, inside one transaction with the version bump.
public struct Migration: Sendable {
    public let version: Int
    public let sql: String
    public init(version: Int, sql: String) { self.version = version; self.sql = sql }
}

public enum Migrator {
    /// Applies the migrations above the database's version. A database newer than this
    /// program (a downgrade) is refused rather than misread.
    public static func migrate(_ db: Database, _ migrations: [Migration]) throws(StoreError) {
        let current = db.schemaVersion
        let latest = migrations.map(\.version).max() ?? 0
        if current > latest {
            throw StoreError(code: -1, message: "\(db.path): schema version \(current) is newer than this program's \(latest)")
        }
        for migration in migrations.sorted(by: { $0.version < $1.version }) where migration.version > current {
            try db.execute("BEGIN IMMEDIATE")
            do {
                try db.execute(migration.sql)
                try db.execute("PRAGMA user_version=\(migration.version)")
                try db.execute("COMMIT")
            } catch {
                try? db.execute("ROLLBACK")
                throw error
            }
        }
    }
}
