import XCTest
@testable import Store

/// Makes and restarts `ShardFiles` on either backend, so one test runs over both.
struct Backends {
    let directory: String

    static let all: [ShardFiles.Backend] = [.disk, .memory]

    func make(_ backend: ShardFiles.Backend, name: String = "node") throws -> ShardFiles {
        switch backend {
        case .disk: return try ShardFiles(directory: directory + "/" + name)
        case .memory: return ShardFiles(memory: name)
        }
    }

    /// The same node after a clean stop and start: the disk backend reopens its folder; the
    /// memory backend keeps its databases (the simulated disk) and drops the process state.
    func restart(_ files: ShardFiles, name: String = "node") throws -> ShardFiles {
        files.closeAll()
        switch files.backend {
        case .disk: return try ShardFiles(directory: directory + "/" + name)
        case .memory: return files
        }
    }
}

/// Every row of every table (the log included), in key order: two copies are the same shard
/// when their dumps are equal.
func dump(_ db: Database) throws -> [String: [[SQLValue]]] {
    var out: [String: [[SQLValue]]] = [:]
    let tables = try db.query("SELECT name FROM sqlite_schema WHERE type='table' AND name NOT LIKE 'sqlite_%'").compactMap { $0.text(0) }
    for table in tables {
        let columns = try db.query("SELECT count(*) FROM pragma_table_info(?)", .text(table)).first?.int(0) ?? 1
        let order = (1...Int(columns)).map(String.init).joined(separator: ",")
        out[table] = try db.query("SELECT * FROM \(table) ORDER BY \(order)").map(\.values)
    }
    return out
}

/// Ships `primary`'s entries after `replica`'s last one the way the wire does (encoded bytes,
/// decoded on the other side) and applies them in one transaction.
func catchUp(_ replica: ShardStore, from primary: ShardStore) throws {
    let encoded = try XCTUnwrap(primary.encodedEntries(after: replica.lastLSN, through: primary.lastLSN))
    for (_, _, bytes) in encoded { try replica.apply(LogEntry.decode(bytes)) }
    try replica.commitApplied()
}

/// A runner that keeps the work until the test runs it: proves that nothing was done on the
/// caller's turn, and lets a test interleave other calls before the work completes.
final class DeferredWork: SlowWorkRunner {
    private var jobs: [() -> Void] = []
    var pending: Int { jobs.count }

    func run<T: Sendable>(_ work: @escaping @Sendable () -> T, done: @escaping (T) -> Void) -> Bool {
        jobs.append { done(work()) }
        return true
    }

    /// Runs the jobs queued so far, and those they queue, in order.
    func drain() {
        while !jobs.isEmpty { jobs.removeFirst()() }
    }
}

extension StoredMessage {
    static func sample(_ seq: Int64, conversation: String = "dm:alice:bob", sender: String = "alice") -> StoredMessage {
        StoredMessage(conversationID: conversation, seq: seq, messageID: "m_\(seq)", sender: sender,
                      clientID: "c-\(seq)", ts: 1_000 + seq, kind: "text", body: "hi \(seq)",
                      attachments: seq % 2 == 0 ? ["a_1", "a_2"] : [], tip: seq == 3 ? Tip(amountCents: 500, currency: "USD") : nil)
    }
}

import CSystem

/// SQLite's own session extension, as the oracle the store's recorder is checked against
/// (and to make changesets on databases that are not shard stores). It takes over the
/// connection's preupdate hook: never on a connection a `ShardStore` records.
final class SessionOracle {
    private var session: OpaquePointer?

    /// Records every table but `excluding`.
    init(_ db: Database, excluding: String? = "shard_log") throws {
        let rc = sqlite3session_create(db.handle, "main", &session)
        guard rc == SQLITE_OK else { throw StoreError(code: rc, message: "sqlite3session_create") }
        if excluding != nil {
            sqlite3session_table_filter(session, { _, name in
                guard let name else { return 0 }
                return strcmp(name, "shard_log") == 0 ? 0 : 1
            }, nil)
        }
        sqlite3session_attach(session, nil)
    }

    deinit { sqlite3session_delete(session) }

    func changeset() -> [UInt8]? {
        var size: Int32 = 0
        var bytes: UnsafeMutableRawPointer?
        defer { sqlite3_free(bytes) }
        guard sqlite3session_changeset(session, &size, &bytes) == SQLITE_OK else { return nil }
        guard let bytes, size > 0 else { return [] }
        return Array(UnsafeRawBufferPointer(start: bytes, count: Int(size)))
    }
}

/// `sqlite3changeset_apply_v2` with a conflict handler that aborts on any conflict: SQLite's
/// own applier, the oracle for `RowChangeApplier`. Returns SQLite's result code.
func sqliteApply(_ changeset: [UInt8], to db: Database) -> Int32 {
    var bytes = changeset
    return bytes.withUnsafeMutableBytes { raw in
        sqlite3changeset_apply_v2(db.handle, Int32(raw.count), raw.baseAddress, nil, { _, _, _ in SQLITE_CHANGESET_ABORT },
                                  nil, nil, nil, 0)
    }
}
