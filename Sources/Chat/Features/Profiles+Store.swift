import Store

// The SQL of profiles and presence (Profiles.swift, Presence.swift): columns of `users`
// (schema 1, and 9 for `profile_visibility` and `online`), the conversation index for contacts.

extension ShardStore {
    func profile(_ user: String) throws(StoreError) -> Profile? {
        guard let row = try db.queryOne("""
            SELECT display_name, about, avatar, last_seen_visibility, profile_visibility, online, last_seen
            FROM users WHERE id=?
            """, .text(user)) else { return nil }
        return Profile(user: user, displayName: row.text(0) ?? user, about: row.text(1) ?? "", avatar: row.text(2) ?? "",
                       lastSeenVisibility: Visibility(rawValue: row.text(3) ?? "") ?? .everyone,
                       profileVisibility: Visibility(rawValue: row.text(4) ?? "") ?? .everyone,
                       online: (row.int(5) ?? 0) != 0, lastSeen: row.int(6) ?? 0)
    }

    func saveProfile(_ p: Profile) throws(StoreError) {
        try write("""
            UPDATE users SET display_name=?, about=?, avatar=?, last_seen_visibility=?, profile_visibility=? WHERE id=?
            """, .text(p.displayName), .text(p.about), .text(p.avatar), .text(p.lastSeenVisibility.rawValue),
                   .text(p.profileVisibility.rawValue), .text(p.user))
    }

    /// Writes only a change: an update to the state already stored writes nothing.
    func setPresence(user: String, online: Bool, lastSeen: Int64) throws(StoreError) {
        try write("UPDATE users SET online=?, last_seen=? WHERE id=? AND online<>?",
                  .int(online ? 1 : 0), .int(lastSeen), .text(user), .int(online ? 1 : 0))
    }

    /// The users of this shard stored online (the partial index `users_online`).
    public func usersStoredOnline() throws(StoreError) -> [String] {
        try db.query("SELECT id FROM users WHERE online=1 ORDER BY id").compactMap { $0.text(0) }
    }

    /// At most `maxDirect` of the user's direct chats and `maxGroups` of their groups, from
    /// their index, each in id order.
    func contactConversations(user: String, maxDirect: Int, maxGroups: Int) throws(StoreError) -> (direct: [String], groups: [String]) {
        let direct = maxDirect == 0 ? [] : try db.query("""
            SELECT conversation_id FROM user_conversations WHERE user=? AND conversation_id >= 'dm:' AND conversation_id < 'dm;'
            ORDER BY conversation_id LIMIT ?
            """, .text(user), .int(Int64(maxDirect))).compactMap { $0.text(0) }
        let groups = try db.query("""
            SELECT conversation_id FROM user_conversations WHERE user=? AND conversation_id >= 'grp:' AND conversation_id < 'grp;'
            ORDER BY conversation_id LIMIT ?
            """, .text(user), .int(Int64(maxGroups))).compactMap { $0.text(0) }
        return (direct, groups)
    }

    func inIndex(user: String, conversationID: String) throws(StoreError) -> Bool {
        try db.queryOne("SELECT 1 FROM user_conversations WHERE user=? AND conversation_id=?",
                        .text(user), .text(conversationID)) != nil
    }
}
