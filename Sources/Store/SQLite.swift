import CSystem

/// A value bound to or read from a SQLite statement.
public enum SQLValue: Sendable, Equatable {
    case null
    case int(Int64)
    case double(Double)
    case text(String)
    case blob([UInt8])
}

/// A SQLite failure: the result code and SQLite's own message. Negative codes are Relay's own.
public struct StoreError: Error, Sendable, CustomStringConvertible {
    public let code: Int32
    public let message: String
    public init(code: Int32, message: String) { self.code = code; self.message = message }
    public var description: String { "sqlite error \(code): \(message)" }

    /// A log entry's row changes conflict with this copy's rows (or name a table or columns it
    /// does not have): the copies diverged, and this one must be refilled by a snapshot.
    public static let divergedCode: Int32 = -4
    /// The shard's store is being opened, created or migrated off the loop: ask again once
    /// `ShardFiles.open` has called back.
    public static let notReadyCode: Int32 = -5

    public var isDivergence: Bool { code == Self.divergedCode }
    public var isNotReady: Bool { code == Self.notReadyCode }

    static func diverged(_ message: String) -> StoreError { StoreError(code: divergedCode, message: message) }
}

/// `synchronous` setting. NORMAL in WAL mode: a commit survives a process crash (kill -9),
/// not a power loss. FULL also survives power loss, at an fsync per commit (DESIGN.md).
public enum Durability: String, Sendable {
    case normal = "NORMAL"
    case full = "FULL"
}

/// One SQLite connection, used from one thread at a time (the node's event loop; a worker
/// thread may open it and hand it over). Prepared statements are cached by their SQL text, so
/// callers just write the SQL where they use it.
public final class Database {
    private(set) var handle: OpaquePointer?
    private var statements: [String: Statement] = [:]
    /// The file, or a label for an in-memory database.
    public let path: String
    /// True for a database that lives in this process's memory only (`ShardFiles`' memory backend).
    public let inMemory: Bool
    /// True between `beginIfNeeded()` and `commit()`/`rollback()`.
    public private(set) var inTransaction = false

    /// How long a statement waits on a lock held by another connection (a snapshot reader).
    static let busyTimeoutMs: Int32 = 5_000

    /// Opens (and with `create`, creates) the file at `path`; `":memory:"` is a private
    /// in-memory database.
    public convenience init(path: String, durability: Durability = .normal, create: Bool = true) throws(StoreError) {
        try self.init(open: path, label: path, durability: durability, create: create)
    }

    /// A private in-memory database, named `label` in errors.
    public convenience init(memory label: String) throws(StoreError) {
        try self.init(open: ":memory:", label: label, durability: .normal, create: true)
    }

    private init(open target: String, label: String, durability: Durability, create: Bool) throws(StoreError) {
        path = label
        inMemory = target == ":memory:"
        let path = target
        var db: OpaquePointer?
        let flags = SQLITE_OPEN_READWRITE | (create ? SQLITE_OPEN_CREATE : 0) | SQLITE_OPEN_NOMUTEX
        let rc = sqlite3_open_v2(path, &db, flags, nil)
        guard rc == SQLITE_OK, let db else {
            let message = db.map { String(cString: sqlite3_errmsg($0)) } ?? "cannot open"
            sqlite3_close(db)
            throw StoreError(code: rc, message: "\(label): \(message)")
        }
        handle = db
        sqlite3_busy_timeout(db, Database.busyTimeoutMs)
        if !inMemory {
            try execute("PRAGMA journal_mode=WAL")
        }
        try execute("PRAGMA synchronous=\(durability.rawValue)")
        try execute("PRAGMA foreign_keys=ON")
    }

    /// A private in-memory database holding `image`, a whole database file's bytes (what
    /// `serialize()` returns): how the memory backend installs a snapshot.
    public convenience init(memory label: String, image: [UInt8]) throws(StoreError) {
        try self.init(memory: label)
        guard !image.isEmpty else { return }
        // SQLite takes ownership of a buffer from its own allocator and frees it on close.
        guard let buffer = sqlite3_malloc64(sqlite3_uint64(image.count))?.assumingMemoryBound(to: UInt8.self) else {
            throw StoreError(code: SQLITE_NOMEM, message: "\(label): no memory for \(image.count) bytes")
        }
        image.withUnsafeBufferPointer { buffer.update(from: $0.baseAddress!, count: image.count) }
        // Header bytes 18-19 are 2 in a WAL file; an in-memory database has no WAL (1 = rollback journal).
        if image.count >= 20, buffer[18] == 2 { buffer[18] = 1; buffer[19] = 1 }
        let flags = UInt32(SQLITE_DESERIALIZE_FREEONCLOSE | SQLITE_DESERIALIZE_RESIZEABLE)
        let rc = sqlite3_deserialize(handle, "main", buffer, Int64(image.count), Int64(image.count), flags)
        guard rc == SQLITE_OK else { throw StoreError(code: rc, message: "\(label): not a database image") }
        // A file image may say WAL; in memory there is no WAL.
        try execute("PRAGMA journal_mode=MEMORY")
        try execute("PRAGMA foreign_keys=ON")
    }

    /// The whole database as the bytes of a database file (committed state: call it outside a
    /// transaction).
    public func serialize() throws(StoreError) -> [UInt8] {
        var size: Int64 = 0
        guard let bytes = sqlite3_serialize(handle, "main", &size, 0) else {
            throw StoreError(code: SQLITE_NOMEM, message: "\(path): cannot serialize")
        }
        defer { sqlite3_free(bytes) }
        return Array(UnsafeBufferPointer(start: bytes, count: Int(size)))
    }

    deinit {
        statements.values.forEach { $0.finalize() }
        sqlite3_close_v2(handle)
    }

    /// Rows changed by every statement since the connection opened (sqlite3_total_changes64):
    /// a before/after pair tells whether some code wrote.
    public var totalChanges: Int64 { handle.map { sqlite3_total_changes64($0) } ?? 0 }

    public func close() {
        statements.values.forEach { $0.finalize() }
        statements = [:]
        sqlite3_close_v2(handle)
        handle = nil
    }

    /// Runs one or more statements that return no rows.
    public func execute(_ sql: String) throws(StoreError) {
        var error: UnsafeMutablePointer<CChar>?
        let rc = sqlite3_exec(handle, sql, nil, nil, &error)
        if rc != SQLITE_OK {
            let message = error.map { String(cString: $0) } ?? "unknown"
            sqlite3_free(error)
            throw StoreError(code: rc, message: message)
        }
    }

    /// A cached prepared statement for `sql`, reset and ready to bind.
    public func prepare(_ sql: String) throws(StoreError) -> Statement {
        if let cached = statements[sql] {
            cached.reset()
            return cached
        }
        var stmt: OpaquePointer?
        let rc = sqlite3_prepare_v3(handle, sql, -1, UInt32(SQLITE_PREPARE_PERSISTENT), &stmt, nil)
        guard rc == SQLITE_OK, let stmt else { throw lastError(rc) }
        let statement = Statement(stmt, database: self)
        statements[sql] = statement
        return statement
    }

    /// Runs a statement that returns no rows; returns the number of rows changed.
    @discardableResult
    public func run(_ sql: String, _ args: SQLValue...) throws(StoreError) -> Int {
        try run(sql, arguments: args)
    }

    @discardableResult
    public func run(_ sql: String, arguments args: [SQLValue]) throws(StoreError) -> Int {
        let statement = try prepare(sql)
        try statement.bind(args)
        while try statement.step() {}
        statement.reset()
        return Int(sqlite3_changes(handle))
    }

    /// All rows of a query.
    public func query(_ sql: String, _ args: SQLValue...) throws(StoreError) -> [Row] {
        let statement = try prepare(sql)
        try statement.bind(args)
        var rows: [Row] = []
        while try statement.step() { rows.append(statement.row()) }
        statement.reset()
        return rows
    }

    /// The first row of a query, if any.
    public func queryOne(_ sql: String, _ args: SQLValue...) throws(StoreError) -> Row? {
        try queryOne(sql, arguments: args)
    }

    public func queryOne(_ sql: String, arguments args: [SQLValue]) throws(StoreError) -> Row? {
        let statement = try prepare(sql)
        try statement.bind(args)
        let row = try statement.step() ? statement.row() : nil
        statement.reset()
        return row
    }

    /// Opens a transaction unless one is open: every write of a loop turn shares one commit.
    public func beginIfNeeded() throws(StoreError) {
        guard !inTransaction else { return }
        try execute("BEGIN IMMEDIATE")
        inTransaction = true
    }

    public func commit() throws(StoreError) {
        guard inTransaction else { return }
        try execute("COMMIT")
        inTransaction = false
    }

    public func rollback() {
        guard inTransaction else { return }
        try? execute("ROLLBACK")
        inTransaction = false
    }

    public var schemaVersion: Int {
        get { (try? queryOne("PRAGMA user_version"))?.int(0).map(Int.init) ?? 0 }
    }

    func lastError(_ rc: Int32) -> StoreError {
        StoreError(code: rc, message: String(cString: sqlite3_errmsg(handle)))
    }
}

/// A row copied out of a statement: safe to keep after the statement moves on.
public struct Row: Sendable {
    public let values: [SQLValue]
    public func int(_ i: Int) -> Int64? { if case .int(let v) = values[i] { return v }; return nil }
    public func text(_ i: Int) -> String? { if case .text(let v) = values[i] { return v }; return nil }
    public func blob(_ i: Int) -> [UInt8]? {
        switch values[i] {
        case .blob(let v): return v
        case .text(let v): return Array(v.utf8)
        default: return nil
        }
    }
    public func isNull(_ i: Int) -> Bool { values[i] == .null }
}

/// A prepared statement owned by its `Database`'s cache.
public final class Statement {
    private var stmt: OpaquePointer?
    private unowned let database: Database

    init(_ stmt: OpaquePointer, database: Database) {
        self.stmt = stmt
        self.database = database
    }

    func finalize() {
        sqlite3_finalize(stmt)
        stmt = nil
    }

    public func reset() {
        sqlite3_reset(stmt)
        sqlite3_clear_bindings(stmt)
    }

    public func bind(_ values: [SQLValue]) throws(StoreError) {
        for (offset, value) in values.enumerated() {
            let i = Int32(offset + 1)
            let rc: Int32
            switch value {
            case .null: rc = sqlite3_bind_null(stmt, i)
            case .int(let v): rc = sqlite3_bind_int64(stmt, i, v)
            case .double(let v): rc = sqlite3_bind_double(stmt, i, v)
            case .text(let v) where v.isEmpty:
                rc = sqlite3_bind_text(stmt, i, "", 0, relay_sqlite_transient())
            case .text(let v):
                // An explicit byte length: a body may hold U+0000, which -1 would cut at.
                var text = v
                rc = text.withUTF8 { utf8 in
                    utf8.withMemoryRebound(to: CChar.self) {
                        sqlite3_bind_text(stmt, i, $0.baseAddress, Int32($0.count), relay_sqlite_transient())
                    }
                }
            case .blob(let v):
                rc = v.withUnsafeBytes { sqlite3_bind_blob(stmt, i, $0.baseAddress, Int32($0.count), relay_sqlite_transient()) }
            }
            if rc != SQLITE_OK { throw database.lastError(rc) }
        }
    }

    /// Advances; true when a row is ready.
    public func step() throws(StoreError) -> Bool {
        let rc = sqlite3_step(stmt)
        if rc == SQLITE_ROW { return true }
        if rc == SQLITE_DONE { return false }
        let error = database.lastError(rc)
        sqlite3_reset(stmt)
        throw error
    }

    /// Column `i` of the current row as SQLite's own value (valid until the statement moves on).
    func columnValue(_ i: Int) -> OpaquePointer? { sqlite3_column_value(stmt, Int32(i)) }

    public func row() -> Row {
        let count = sqlite3_column_count(stmt)
        var values: [SQLValue] = []
        values.reserveCapacity(Int(count))
        for i in 0..<count {
            switch sqlite3_column_type(stmt, i) {
            case SQLITE_INTEGER: values.append(.int(sqlite3_column_int64(stmt, i)))
            case SQLITE_FLOAT: values.append(.double(sqlite3_column_double(stmt, i)))
            case SQLITE_TEXT:
                let n = Int(sqlite3_column_bytes(stmt, i))
                let text = sqlite3_column_text(stmt, i).map { String(decoding: UnsafeBufferPointer(start: $0, count: n), as: UTF8.self) } ?? ""
                values.append(.text(text))
            case SQLITE_BLOB:
                let n = Int(sqlite3_column_bytes(stmt, i))
                if n > 0, let p = sqlite3_column_blob(stmt, i) {
                    values.append(.blob(Array(UnsafeRawBufferPointer(start: p, count: n))))
                } else {
                    values.append(.blob([]))
                }
            default: values.append(.null)
            }
        }
        return Row(values: values)
    }
}
