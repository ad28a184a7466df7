import Store

// The SQL of assets (Assets.swift), tables in schema 8.

extension ShardStore {
    func asset(_ id: String) throws(StoreError) -> AssetMeta? {
        try db.queryOne("SELECT sha256, size, content_type, uploader, created_at FROM assets WHERE asset_id=?", .text(id)).map {
            AssetMeta(assetID: id, sha256: $0.text(0) ?? "", size: $0.int(1) ?? 0, contentType: $0.text(2) ?? "",
                      uploader: $0.text(3) ?? "", createdAt: $0.int(4) ?? 0)
        }
    }

    func insertAsset(_ m: AssetMeta) throws(StoreError) {
        try write("INSERT INTO assets(asset_id, sha256, size, content_type, uploader, created_at) VALUES(?,?,?,?,?,?)",
                  .text(m.assetID), .text(m.sha256), .int(m.size), .text(m.contentType), .text(m.uploader), .int(m.createdAt))
    }

    /// The users whose avatar the asset is (normally one).
    func avatarOwners(assetID: String, limit: Int) throws(StoreError) -> [String] {
        try db.query("""
            SELECT conversation_id FROM asset_refs WHERE asset_id=? AND conversation_id >= 'avatar:' AND conversation_id < 'avatar;' LIMIT ?
            """, .text(assetID), .int(Int64(limit))).compactMap { $0.text(0).map { String($0.dropFirst(AssetLimits.avatarPrefix.count)) } }
    }

    /// The refs worth asking about for `reader`: first those in direct chats that name the
    /// reader (`dm:R:x` by index range, `dm:x:R` among the first `scan` direct refs), then
    /// the first others (groups), `limit` of each kind. A widely forwarded asset thus still
    /// finds the reader's own chat without asking thousands of conversations.
    func messageRefs(assetID: String, reader: String, limit: Int, scan: Int = 100_000) throws(StoreError) -> [(String, Int64)] {
        let row: (Row) -> (String, Int64) = { ($0.text(0) ?? "", $0.int(1) ?? 0) }
        let first = try db.query("""
            SELECT conversation_id, seq FROM asset_refs WHERE asset_id=? AND conversation_id >= ? AND conversation_id < ? LIMIT ?
            """, .text(assetID), .text("dm:\(reader):"), .text("dm:\(reader);"), .int(Int64(limit))).map(row)
        let second = try db.query("""
            SELECT conversation_id, seq FROM (
                SELECT conversation_id, seq FROM asset_refs WHERE asset_id=? AND conversation_id >= 'dm:' AND conversation_id < 'dm;' LIMIT ?)
            WHERE substr(conversation_id, -length(?)) = ? LIMIT ?
            """, .text(assetID), .int(Int64(scan)), .text(":\(reader)"), .text(":\(reader)"), .int(Int64(limit))).map(row)
        let others = try db.query("""
            SELECT conversation_id, seq FROM asset_refs
            WHERE asset_id=? AND NOT (conversation_id >= 'avatar:' AND conversation_id < 'avatar;')
            AND NOT (conversation_id >= 'dm:' AND conversation_id < 'dm;')
            ORDER BY conversation_id, seq LIMIT ?
            """, .text(assetID), .int(Int64(limit))).map(row)
        return first + second + others
    }

    func isHidden(conversationID: String, seq: Int64, from reader: String) throws(StoreError) -> Bool {
        try db.queryOne("SELECT 1 FROM messages WHERE conversation_id=? AND seq=? AND hidden_for=?",
                        .text(conversationID), .int(seq), .text(reader)) != nil
    }

    func addAssetRef(assetID: String, conversationID: String, seq: Int64) throws(StoreError) {
        try write("INSERT OR IGNORE INTO asset_refs(asset_id, conversation_id, seq) VALUES(?,?,?)",
                  .text(assetID), .text(conversationID), .int(seq))
    }

    func removeAssetRef(assetID: String, conversationID: String, seq: Int64) throws(StoreError) {
        try write("DELETE FROM asset_refs WHERE asset_id=? AND conversation_id=? AND seq=?",
                  .text(assetID), .text(conversationID), .int(seq))
    }

    public func pruneUnreferencedAssets(olderThan: Int64, limit: Int) throws(StoreError) -> Int64 {
        let ids = try db.query("""
            SELECT asset_id FROM assets a WHERE created_at < ?
            AND NOT EXISTS (SELECT 1 FROM asset_refs r WHERE r.asset_id = a.asset_id) LIMIT ?
            """, .int(olderThan), .int(Int64(limit))).compactMap { $0.text(0) }
        for id in ids { try write("DELETE FROM assets WHERE asset_id=?", .text(id)) }
        return Int64(ids.count)
    }

    /// The files (SHA-256 hex and size) this shard's asset rows name, in pages by hash: what a
    /// node holding the shard must have on disk (repair) and may not delete (collection).
    public func assetFiles(after sha256: String, limit: Int) throws(StoreError) -> [(sha256: String, size: Int64)] {
        try db.query("SELECT DISTINCT sha256, size FROM assets WHERE sha256 > ? ORDER BY sha256 LIMIT ?",
                     .text(sha256), .int(Int64(limit))).map { (sha256: $0.text(0) ?? "", size: $0.int(1) ?? 0) }
    }

    /// Whether any asset row of this shard names the file.
    public func hasAssetFile(sha256: String) throws(StoreError) -> Bool {
        try db.queryOne("SELECT 1 FROM assets WHERE sha256=? LIMIT 1", .text(sha256)) != nil
    }
}
