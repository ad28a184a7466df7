import Store

// The SQL of creator lists and mass messages (Lists.swift), tables in schema 6. A member row
// is live while `removed_v` is NULL; a list's membership at version V is the rows with
// added_v <= V and (removed_v NULL or > V).

struct ListMessageRecord: Sendable, Equatable {
    var recipients: Int64
    var version: Int64
}

extension ShardStore {
    /// Tombstones dropped per membership change once no job of the list is left.
    static let tombstonesPerChange: Int64 = 1_000

    func listCount(owner: String) throws(StoreError) -> Int {
        Int(try db.queryOne("SELECT count(*) FROM lists WHERE owner=?", .text(owner))?.int(0) ?? 0)
    }

    func insertList(owner: String, listID: String, name: String, size: Int64, now: Int64) throws(StoreError) {
        try write("INSERT INTO lists(owner, list_id, name, size, version, created_at) VALUES(?,?,?,?,1,?)",
                  .text(owner), .text(listID), .text(name), .int(size), .int(now))
    }

    func list(owner: String, listID: String) throws(StoreError) -> ListRecord? {
        try db.queryOne("SELECT name, size, version FROM lists WHERE owner=? AND list_id=?", .text(owner), .text(listID)).map {
            ListRecord(listID: listID, name: $0.text(0) ?? "", size: $0.int(1) ?? 0, version: $0.int(2) ?? 0)
        }
    }

    func lists(owner: String) throws(StoreError) -> [ListSummary] {
        try db.query("SELECT list_id, name, size FROM lists WHERE owner=? ORDER BY list_id", .text(owner)).map {
            ListSummary(listID: $0.text(0) ?? "", name: $0.text(1) ?? "", size: $0.int(2) ?? 0)
        }
    }

    func updateList(owner: String, listID: String, size: Int64, version: Int64) throws(StoreError) {
        try write("UPDATE lists SET size=?, version=? WHERE owner=? AND list_id=?", .int(size), .int(version), .text(owner), .text(listID))
    }

    func insertListMember(listID: String, member: String, version: Int64) throws(StoreError) {
        try write("INSERT OR IGNORE INTO list_members(list_id, member, added_v, removed_v) VALUES(?,?,?,NULL)",
                  .text(listID), .text(member), .int(version))
    }

    func isListMember(listID: String, member: String) throws(StoreError) -> Bool {
        try db.queryOne("SELECT 1 FROM list_members WHERE list_id=? AND member=? AND removed_v IS NULL",
                        .text(listID), .text(member)) != nil
    }

    func removeListMember(listID: String, member: String, version: Int64, keepTombstone: Bool) throws(StoreError) {
        if keepTombstone {
            try write("UPDATE list_members SET removed_v=? WHERE list_id=? AND member=? AND removed_v IS NULL",
                      .int(version), .text(listID), .text(member))
        } else {
            try write("DELETE FROM list_members WHERE list_id=? AND member=? AND removed_v IS NULL", .text(listID), .text(member))
        }
    }

    /// Whether a mass message of the list is still sending (its job is in the outbox).
    func hasListJobs(listID: String) throws(StoreError) -> Bool {
        let prefix = ListMessageJob.id(listID: listID, clientID: "")
        return try db.queryOne("SELECT 1 FROM outbox WHERE id>=? AND id<? LIMIT 1", .text(prefix), .text(String(prefix.dropLast()) + ";")) != nil
    }

    /// Drops some removed members' rows once no job could still read them.
    func dropListTombstonesIfIdle(listID: String) throws(StoreError) {
        guard try !hasListJobs(listID: listID) else { return }
        guard try db.queryOne("SELECT 1 FROM list_members WHERE list_id=? AND removed_v IS NOT NULL LIMIT 1", .text(listID)) != nil
        else { return }
        try write("""
            DELETE FROM list_members WHERE list_id=?1 AND (member, added_v) IN
            (SELECT member, added_v FROM list_members WHERE list_id=?1 AND removed_v IS NOT NULL LIMIT ?2)
            """, .text(listID), .int(Self.tombstonesPerChange))
    }

    func liveListMembers(listID: String) throws(StoreError) -> [String] {
        try db.query("SELECT member FROM list_members WHERE list_id=? AND removed_v IS NULL ORDER BY member", .text(listID))
            .compactMap { $0.text(0) }
    }

    func listMembers(listID: String, atVersion version: Int64, after: String, limit: Int) throws(StoreError) -> [String] {
        try db.query("""
            SELECT member FROM list_members WHERE list_id=? AND member>? AND added_v<=? AND (removed_v IS NULL OR removed_v>?)
            ORDER BY member LIMIT ?
            """, .text(listID), .text(after), .int(version), .int(version), .int(Int64(limit))).compactMap { $0.text(0) }
    }

    func listMessage(listID: String, clientID: String) throws(StoreError) -> ListMessageRecord? {
        try db.queryOne("SELECT recipients, version FROM list_messages WHERE list_id=? AND client_id=?", .text(listID), .text(clientID))
            .map { ListMessageRecord(recipients: $0.int(0) ?? 0, version: $0.int(1) ?? 0) }
    }

    func insertListMessage(listID: String, clientID: String, recipients: Int64, version: Int64, now: Int64) throws(StoreError) {
        try write("INSERT INTO list_messages(list_id, client_id, recipients, version, created_at) VALUES(?,?,?,?,?)",
                  .text(listID), .text(clientID), .int(recipients), .int(version), .int(now))
    }
}
