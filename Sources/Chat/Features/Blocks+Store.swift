import Store

// The SQL of blocks and the moderation log (Blocks.swift), tables in schema 6.

public struct BlockRecord: Sendable, Equatable {
    public var active: Bool
    public var version: Int64
}

extension ShardStore {
    // MARK: Blocks, on the blocker's user shard

    func block(user: String, blocked: String) throws(StoreError) -> BlockRecord? {
        try db.queryOne("SELECT active, version FROM blocks WHERE user=? AND blocked=?", .text(user), .text(blocked))
            .map { BlockRecord(active: ($0.int(0) ?? 0) != 0, version: $0.int(1) ?? 0) }
    }

    func setBlock(user: String, blocked: String, active: Bool, version: Int64, now: Int64) throws(StoreError) {
        try write("""
            INSERT INTO blocks(user, blocked, active, version, changed_at) VALUES(?,?,?,?,?)
            ON CONFLICT(user, blocked) DO UPDATE SET active=excluded.active, version=excluded.version, changed_at=excluded.changed_at
            """, .text(user), .text(blocked), .int(active ? 1 : 0), .int(version), .int(now))
    }

    func activeBlockCount(user: String) throws(StoreError) -> Int {
        Int(try db.queryOne("SELECT count(*) FROM blocks WHERE user=? AND active=1", .text(user))?.int(0) ?? 0)
    }

    func blockedUsers(user: String) throws(StoreError) -> [String] {
        try db.query("SELECT blocked FROM blocks WHERE user=? AND active=1 ORDER BY blocked", .text(user)).compactMap { $0.text(0) }
    }

    // MARK: Marks, on the direct chat's shard

    /// Applies the mark if `version` is newer than the one there.
    func markDirectBlock(conversationID: String, blocker: String, active: Bool, version: Int64) throws(StoreError) {
        try write("""
            INSERT INTO direct_blocks(conversation_id, blocker, active, version) VALUES(?,?,?,?)
            ON CONFLICT(conversation_id, blocker) DO UPDATE SET active=excluded.active, version=excluded.version
            WHERE excluded.version > direct_blocks.version
            """, .text(conversationID), .text(blocker), .int(active ? 1 : 0), .int(version))
    }

    public func isDirectBlockActive(conversationID: String, blocker: String) throws(StoreError) -> Bool {
        (try db.queryOne("SELECT active FROM direct_blocks WHERE conversation_id=? AND blocker=?",
                         .text(conversationID), .text(blocker))?.int(0) ?? 0) != 0
    }

    // MARK: The moderation log, on the blocker's user shard

    func insertModerationEntry(user: String, _ e: ModerationEntry) throws(StoreError) {
        try write("""
            INSERT OR IGNORE INTO moderation_log(user, conversation_id, seq, sender, ts, preview) VALUES(?,?,?,?,?,?)
            """, .text(user), .text(e.conversationID), .int(e.seq), .text(e.sender), .int(e.ts), .text(e.preview))
    }

    func moderationEntries(user: String, since: Int64, limit: Int) throws(StoreError) -> [ModerationEntry] {
        try db.query("""
            SELECT sender, conversation_id, seq, ts, preview FROM moderation_log WHERE user=? AND ts>=?
            ORDER BY ts DESC, conversation_id DESC, seq DESC LIMIT ?
            """, .text(user), .int(since), .int(Int64(limit))).map {
            ModerationEntry(sender: $0.text(0) ?? "", conversationID: $0.text(1) ?? "", seq: $0.int(2) ?? 0, ts: $0.int(3) ?? 0,
                            preview: $0.text(4) ?? "")
        }
    }

    /// Deletes at most `limit` moderation log entries older than `before` (any user of this
    /// shard); returns how many. The caller runs it on the shard's primary only, so the
    /// deletion is replicated like any write.
    @discardableResult
    public func pruneModerationLog(before: Int64, limit: Int = BlockLimits.prunePerRound) throws(StoreError) -> Int {
        try write("""
            DELETE FROM moderation_log WHERE (user, conversation_id, seq) IN
            (SELECT user, conversation_id, seq FROM moderation_log WHERE ts<? ORDER BY ts LIMIT ?)
            """, .int(before), .int(Int64(limit)))
    }
}
