/// One shard's SQLite database and the typed reads and writes the chat rules need. Writes join
/// the open transaction (`beginIfNeeded`); the owner commits once per loop turn, and each
/// commit that changed rows becomes the shard's next log entry: the rows it changed.
public final class ShardStore {
    public let shard: Int
    public let db: Database

    /// Records the open transaction's row changes: the next log entry.
    private let recorder: RowChangeRecorder
    /// Applies a primary's entries to this copy (checked against this copy's tables).
    private let applier: RowChangeApplier
    /// The newest entry in the log (0 for a shard that never committed a write).
    public private(set) var lastLSN: Int64 = 0
    public private(set) var lastTerm: Int64 = 0
    /// The newest entry as committed: where a rollback takes `lastLSN` back to.
    private var committedLSN: Int64 = 0
    private var committedTerm: Int64 = 0
    /// Entries kept for replicas that fall behind; older ones are dropped (a replica that
    /// far behind is sent a snapshot of the shard instead).
    public static let defaultLogEntries: Int64 = 100_000
    /// How many entries this store keeps (the cluster config's `log_entries`).
    public let keepLogEntries: Int64
    /// `currentMemberIDs`, per conversation.
    private var currentMembersCache: [String: [String]] = [:]
    private var cachedMemberIDs = 0
    private var trimEvery: Int64 { max(1, min(1_000, keepLogEntries / 4)) }

    /// Opens (creating and migrating if needed) the shard file at `path`.
    public convenience init(shard: Int, path: String, durability: Durability = .normal,
                            keepLogEntries: Int64 = ShardStore.defaultLogEntries) throws(StoreError) {
        try self.init(shard: shard, database: Database(path: path, durability: durability), keepLogEntries: keepLogEntries)
    }

    /// A store over an open connection (a file's, or an in-memory database's): migrates it to
    /// this program's schema and reads where its log stands.
    public init(shard: Int, database: Database, keepLogEntries: Int64 = ShardStore.defaultLogEntries) throws(StoreError) {
        self.shard = shard
        self.keepLogEntries = keepLogEntries
        db = database
        try Migrator.migrate(db, ShardSchema.migrations)
        let tables = try RowChanges.tables(of: db)
        applier = RowChangeApplier(db: db, tables: tables)
        recorder = RowChangeRecorder(db: db, tables: tables.map {
            RowChangeRecorder.TableInfo(name: $0.name, columns: $0.columns, keyPlaces: $0.keyPlaces)
        })
        if let row = try db.queryOne("SELECT lsn, term FROM shard_log ORDER BY lsn DESC LIMIT 1") {
            lastLSN = row.int(0) ?? 0
            lastTerm = row.int(1) ?? 0
        }
        committedLSN = lastLSN
        committedTerm = lastTerm
    }

    /// Whether the database at `db` is at this program's schema (opening it would not migrate).
    static func isCurrent(_ db: Database) -> Bool {
        db.schemaVersion == ShardSchema.migrations.map(\.version).max()
    }

    /// Every write goes through here: it joins the open transaction, whose row changes the
    /// recorder notes for the next log entry.
    @discardableResult
    public func write(_ sql: String, _ args: SQLValue...) throws(StoreError) -> Int {
        try db.beginIfNeeded()
        return try db.run(sql, arguments: args)
    }

    /// Seals the transaction's row changes as the next log entry and commits. Returns the
    /// entry, or nil when no row changed (entries a follower applied commit here too).
    public func commit(term: Int64) throws(StoreError) -> LogEntry? {
        guard db.inTransaction else { return nil }
        let changeset = try recorder.changeset()
        recorder.reset()
        guard !changeset.isEmpty else {
            try db.commit()
            committed()
            return nil
        }
        let entry = LogEntry(lsn: lastLSN + 1, term: term, changeset: changeset)
        try appendLog(entry)
        try db.commit()
        lastLSN = entry.lsn
        lastTerm = term
        committed()
        return entry
    }

    /// Commits the entries applied since the last commit (a follower's batch).
    public func commitApplied() throws(StoreError) {
        _ = try commit(term: lastTerm)
    }

    private func committed() {
        committedLSN = lastLSN
        committedTerm = lastTerm
    }

    /// Drops the open transaction: its writes, its applied entries, its recorder. The store
    /// is as last committed.
    public func rollback() {
        forgetMembers()
        db.rollback()
        recorder.reset()
        lastLSN = committedLSN
        lastTerm = committedTerm
        if let last = recent.last, last.lsn > committedLSN { recent.removeAll { $0.lsn > committedLSN } }
    }

    private func appendLog(_ entry: LogEntry) throws(StoreError) {
        let bytes = entry.encoded()
        try db.run("INSERT INTO shard_log(lsn, term, entry) VALUES(?,?,?)", .int(entry.lsn), .int(entry.term), .blob(bytes))
        // Kept in memory too: the primary ships what it just wrote without reading it back.
        // (Not trusted until the transaction commits: a rollback drops it.)
        recent.append((entry.lsn, entry.term, bytes))
        if recent.count > Self.recentEntries { recent.removeFirst(recent.count - Self.recentEntries / 2) }
        if entry.lsn % trimEvery == 0 {
            try db.run("DELETE FROM shard_log WHERE lsn<=?", .int(entry.lsn - keepLogEntries))
        }
    }

    /// A replica applies the primary's next entry: the same row changes, the same log row.
    /// Any conflict with this copy's rows throws `diverged` (`StoreError.isDivergence`): the
    /// copies differ and this one needs a snapshot. On any failure the open transaction is
    /// rolled back, so the store stays as last committed.
    /// Runs SQL on this copy alone, unrecorded: it joins no log entry and is never shipped.
    /// For tests and the simulation's checker tests, which plant a divergence; nothing else
    /// may call it.
    public func executeBehindTheLog(_ sql: String) throws(StoreError) {
        forgetMembers()
        recorder.paused = true
        defer { recorder.paused = false }
        try db.execute(sql)
    }

    public func apply(_ entry: LogEntry) throws(StoreError) {
        forgetMembers()   // a primary's entries may change who is a member
        guard entry.lsn == lastLSN + 1 else {
            throw StoreError(code: -3, message: "shard \(shard): entry \(entry.lsn) does not follow \(lastLSN)")
        }
        guard recorder.isEmpty else {
            throw StoreError(code: -1, message: "shard \(shard): an entry cannot join a transaction with local writes")
        }
        recorder.paused = true
        defer { recorder.paused = false }
        do {
            try db.beginIfNeeded()
            try applier.apply(Changeset.parse(entry.changeset))
            try appendLog(entry)
        } catch {
            rollback()
            throw StoreError(code: error.code, message: "shard \(shard), entry \(entry.lsn): \(error.message)")
        }
        lastLSN = entry.lsn
        lastTerm = entry.term
    }

    /// The term of the entry at `lsn`, if the log still holds it (0 for lsn 0).
    public func term(at lsn: Int64) throws(StoreError) -> Int64? {
        if lsn == 0 { return 0 }
        if lsn == lastLSN { return lastTerm }
        return try db.queryOne("SELECT term FROM shard_log WHERE lsn=?", .int(lsn))?.int(0)
    }

    /// The newest log entries, encoded, as committed.
    private var recent: [(lsn: Int64, term: Int64, bytes: [UInt8])] = []
    static let recentEntries = 1_024

    /// The oldest entry the log can ship: its oldest row's, unless that row is the marker
    /// schema 3 left (an empty entry: the position of a statement log, without its content).
    private func firstShippableLSN() throws(StoreError) -> Int64? {
        guard let row = try db.queryOne("SELECT lsn, length(entry) FROM shard_log ORDER BY lsn LIMIT 1") else { return nil }
        let lsn = row.int(0) ?? 0
        return (row.int(1) ?? 0) == 0 ? lsn + 1 : lsn
    }

    /// The encoded entries (after, through], oldest first, from memory when the newest ones
    /// are asked for (the usual case) or else from the log; nil when the log no longer reaches back.
    public func encodedEntries(after lsn: Int64, through: Int64) throws(StoreError) -> [(lsn: Int64, term: Int64, bytes: [UInt8])]? {
        let through = min(through, lastLSN)
        guard lsn < through else { return [] }
        if let first = recent.first, first.lsn <= lsn + 1, !db.inTransaction {
            let start = Int(lsn + 1 - first.lsn)
            let end = Int(through - first.lsn)
            if end < recent.count { return Array(recent[start...end]) }
        }
        guard let first = try firstShippableLSN(), first <= lsn + 1 else { return nil }
        let rows = try db.query("SELECT lsn, term, entry FROM shard_log WHERE lsn>? AND lsn<=? ORDER BY lsn", .int(lsn), .int(through))
            .map { row in (lsn: row.int(0) ?? 0, term: row.int(1) ?? 0, bytes: row.blob(2) ?? []) }
        return rows.count == Int(through - lsn) ? rows : nil
    }

    /// Entries after `lsn`, oldest first, at most `limit`; nil when the log no longer reaches
    /// back that far (the replica needs a snapshot).
    public func entries(after lsn: Int64, limit: Int) throws(StoreError) -> [LogEntry]? {
        guard lsn < lastLSN else { return [] }
        guard let first = try firstShippableLSN(), first <= lsn + 1 else { return nil }
        return try db.query("SELECT entry FROM shard_log WHERE lsn>? ORDER BY lsn LIMIT ?", .int(lsn), .int(Int64(limit)))
            .compactMap { row in row.blob(0).flatMap { try? LogEntry.decode($0) } }
    }

    // MARK: Users

    /// False when the id is taken.
    public func insertUser(id: String, passwordHash: String, displayName: String, now: Int64) throws(StoreError) -> Bool {
        return try write("INSERT OR IGNORE INTO users(id, password_hash, display_name, created_at) VALUES(?,?,?,?)",
                          .text(id), .text(passwordHash), .text(displayName), .int(now)) == 1
    }

    public func passwordHash(user: String) throws(StoreError) -> String? {
        try db.queryOne("SELECT password_hash FROM users WHERE id=?", .text(user))?.text(0)
    }

    public func user(_ id: String) throws(StoreError) -> UserRecord? {
        guard let row = try db.queryOne(
            "SELECT id, display_name, about, avatar, last_seen_visibility, last_seen, created_at FROM users WHERE id=?",
            .text(id)) else { return nil }
        return UserRecord(id: row.text(0) ?? id, displayName: row.text(1) ?? "", about: row.text(2) ?? "",
                          avatar: row.text(3) ?? "", lastSeenVisibility: row.text(4) ?? "everyone",
                          lastSeen: row.int(5) ?? 0, createdAt: row.int(6) ?? 0)
    }

    // MARK: Sessions

    public func insertSession(tokenHash: [UInt8], user: String, device: String, now: Int64, expiresAt: Int64) throws(StoreError) {
        try write("INSERT OR REPLACE INTO sessions(token_hash, user, device, created_at, expires_at) VALUES(?,?,?,?,?)",
                   .blob(tokenHash), .text(user), .text(device), .int(now), .int(expiresAt))
    }

    public func session(tokenHash: [UInt8]) throws(StoreError) -> SessionRecord? {
        guard let row = try db.queryOne("SELECT user, device, expires_at FROM sessions WHERE token_hash=?", .blob(tokenHash))
        else { return nil }
        return SessionRecord(user: row.text(0) ?? "", device: row.text(1) ?? "", expiresAt: row.int(2) ?? 0)
    }

    @discardableResult
    public func deleteSession(tokenHash: [UInt8]) throws(StoreError) -> Bool {
        return try write("DELETE FROM sessions WHERE token_hash=?", .blob(tokenHash)) > 0
    }

    /// Drops sessions that expired before `now`; bounded per call so the loop never stalls.
    @discardableResult
    public func deleteExpiredSessions(now: Int64, limit: Int = 1_000) throws(StoreError) -> Int {
        return try write("DELETE FROM sessions WHERE token_hash IN (SELECT token_hash FROM sessions WHERE expires_at<? LIMIT ?)",
                          .int(now), .int(Int64(limit)))
    }

    // MARK: A user's conversation index

    public func addToIndex(user: String, conversationID: String, now: Int64) throws(StoreError) {
        try write("INSERT OR IGNORE INTO user_conversations(user, conversation_id, added_at) VALUES(?,?,?)",
                   .text(user), .text(conversationID), .int(now))
    }

    public func conversationIDs(user: String) throws(StoreError) -> [String] {
        try db.query("SELECT conversation_id FROM user_conversations WHERE user=? ORDER BY conversation_id", .text(user))
            .compactMap { $0.text(0) }
    }

    // MARK: Conversations and members

    public func conversation(_ id: String) throws(StoreError) -> ConversationRecord? {
        guard let row = try db.queryOne(
            "SELECT kind, title, last_seq, history_visible, created_at, last_ts FROM conversations WHERE id=?", .text(id))
        else { return nil }
        return ConversationRecord(id: id, kind: row.text(0) ?? "direct", title: row.text(1) ?? "",
                                  lastSeq: row.int(2) ?? 0, historyVisible: (row.int(3) ?? 1) != 0,
                                  createdAt: row.int(4) ?? 0, lastTs: row.int(5) ?? 0)
    }

    /// False when it already exists.
    public func insertConversation(id: String, kind: String, title: String, historyVisible: Bool, now: Int64) throws(StoreError) -> Bool {
        return try write("INSERT OR IGNORE INTO conversations(id, kind, title, history_visible, created_at) VALUES(?,?,?,?,?)",
                          .text(id), .text(kind), .text(title), .int(historyVisible ? 1 : 0), .int(now)) == 1
    }

    public func setLastSeq(conversationID: String, seq: Int64, ts: Int64) throws(StoreError) {
        try write("UPDATE conversations SET last_seq=?, last_ts=? WHERE id=?", .int(seq), .int(ts), .text(conversationID))
    }

    public func insertMember(conversationID: String, user: String, role: String, joinedSeq: Int64) throws(StoreError) {
        membersChanged(conversationID)
        try write("INSERT OR IGNORE INTO members(conversation_id, user, role, joined_seq) VALUES(?,?,?,?)",
                   .text(conversationID), .text(user), .text(role), .int(joinedSeq))
    }

    /// The current members' ids (not removed, not departed): whom a message is pushed to. Kept
    /// in memory per conversation, since every message needs it and a big group's list is long;
    /// every write that changes who is a member calls `membersChanged`, and applying a
    /// primary's entry, a rollback or a write behind the log forget them all.
    public func currentMemberIDs(conversationID: String) throws(StoreError) -> [String] {
        if let cached = currentMembersCache[conversationID] { return cached }
        let ids = try db.query("SELECT user FROM members WHERE conversation_id=? AND left_seq IS NULL ORDER BY user",
                               .text(conversationID)).compactMap { $0.text(0) }
        if cachedMemberIDs + ids.count > Self.maxCachedMemberIDs { forgetMembers() }
        currentMembersCache[conversationID] = ids
        cachedMemberIDs += ids.count
        return ids
    }

    /// Call before any write that adds, removes or brings back a member of the conversation.
    public func membersChanged(_ conversationID: String) {
        if let gone = currentMembersCache.removeValue(forKey: conversationID) { cachedMemberIDs -= gone.count }
    }

    private func forgetMembers() {
        currentMembersCache.removeAll()
        cachedMemberIDs = 0
    }

    /// Member ids kept in all (about 50 bytes each: ~10 MB per shard at most). Past it the
    /// cache starts over.
    static let maxCachedMemberIDs = 200_000

    public func members(conversationID: String) throws(StoreError) -> [MemberRecord] {
        try db.query("SELECT user, role, joined_seq, left_seq, delivered, read FROM members WHERE conversation_id=? ORDER BY user",
                     .text(conversationID)).map { Self.member(conversationID, $0) }
    }

    public func member(conversationID: String, user: String) throws(StoreError) -> MemberRecord? {
        try db.queryOne("SELECT user, role, joined_seq, left_seq, delivered, read FROM members WHERE conversation_id=? AND user=?",
                        .text(conversationID), .text(user)).map { Self.member(conversationID, $0) }
    }

    private static func member(_ conversationID: String, _ row: Row) -> MemberRecord {
        MemberRecord(conversationID: conversationID, user: row.text(0) ?? "", role: row.text(1) ?? "member",
                     joinedSeq: row.int(2) ?? 0, leftSeq: row.int(3), delivered: row.int(4) ?? 0, read: row.int(5) ?? 0)
    }

    public func setCursors(conversationID: String, user: String, delivered: Int64, read: Int64) throws(StoreError) {
        try write("UPDATE members SET delivered=?, read=? WHERE conversation_id=? AND user=?",
                   .int(delivered), .int(read), .text(conversationID), .text(user))
    }

    // MARK: Messages

    public func insertMessage(_ m: StoredMessage, hiddenFor: String? = nil) throws(StoreError) {
        try write("""
            INSERT INTO messages(conversation_id, seq, message_id, sender, client_id, ts, kind, body, attachments,
                                 tip_cents, tip_currency, hidden_for, width, height) VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?,?)
            """,
            .text(m.conversationID), .int(m.seq), .text(m.messageID), .text(m.sender), .text(m.clientID), .int(m.ts),
            .text(m.kind), .text(m.body), .text(m.attachments.joined(separator: ",")),
            m.tip.map { .int($0.amountCents) } ?? .null, m.tip.map { .text($0.currency) } ?? .null,
            hiddenFor.map { .text($0) } ?? .null, m.width.map { .int($0) } ?? .null, m.height.map { .int($0) } ?? .null)
    }

    /// The message a sender already stored under `clientID` in this conversation (idempotency).
    public func message(conversationID: String, sender: String, clientID: String) throws(StoreError) -> StoredMessage? {
        try db.queryOne("SELECT \(Self.messageColumns) FROM messages WHERE conversation_id=? AND sender=? AND client_id=?",
                        .text(conversationID), .text(sender), .text(clientID)).map(Self.message)
    }

    /// Messages of a conversation that `reader` may see, with seq in (after, before), at most
    /// `limit`, oldest first. `newest` takes the newest `limit` of the range instead of the oldest.
    public func messages(conversationID: String, reader: String, after: Int64, before: Int64, limit: Int, newest: Bool) throws(StoreError) -> [StoredMessage] {
        let order = newest ? "DESC" : "ASC"
        let rows = try db.query("""
            SELECT \(Self.messageColumns) FROM messages
            WHERE conversation_id=? AND seq>? AND seq<? AND (hidden_for IS NULL OR hidden_for<>?)
            ORDER BY seq \(order) LIMIT ?
            """, .text(conversationID), .int(after), .int(before), .text(reader), .int(Int64(limit)))
        let messages = rows.map(Self.message)
        return newest ? messages.reversed() : messages
    }

    /// Messages from others above `read` that `reader` can see: the unread count.
    public func unreadCount(conversationID: String, reader: String, after: Int64, upTo: Int64) throws(StoreError) -> Int64 {
        try db.queryOne("""
            SELECT count(*) FROM messages WHERE conversation_id=? AND seq>? AND seq<=? AND sender<>?
            AND (hidden_for IS NULL OR hidden_for<>?)
            """, .text(conversationID), .int(after), .int(upTo), .text(reader), .text(reader))?.int(0) ?? 0
    }

    /// Senders of the messages with seq in (after, upTo]: who a new read cursor newly covers.
    public func senders(conversationID: String, after: Int64, upTo: Int64) throws(StoreError) -> [String] {
        try db.query("SELECT DISTINCT sender FROM messages WHERE conversation_id=? AND seq>? AND seq<=? ORDER BY sender",
                     .text(conversationID), .int(after), .int(upTo)).compactMap { $0.text(0) }
    }

    static let messageColumns = "conversation_id, seq, message_id, sender, client_id, ts, kind, body, attachments, tip_cents, tip_currency, width, height"

    private static func message(_ row: Row) -> StoredMessage {
        let attachments = row.text(8) ?? ""
        var tip: Tip?
        if let cents = row.int(9) { tip = Tip(amountCents: cents, currency: row.text(10) ?? "USD") }
        var m = StoredMessage(conversationID: row.text(0) ?? "", seq: row.int(1) ?? 0, messageID: row.text(2) ?? "",
                              sender: row.text(3) ?? "", clientID: row.text(4) ?? "", ts: row.int(5) ?? 0,
                              kind: row.text(6) ?? "text", body: row.text(7) ?? "",
                              attachments: attachments.isEmpty ? [] : attachments.split(separator: ",").map(String.init),
                              tip: tip)
        m.width = row.int(11)
        m.height = row.int(12)
        return m
    }
}
