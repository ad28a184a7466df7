import Store

// The SQL of notifications and mute (Notifications.swift); tables in migration 10.

struct ConversationPrefs: Equatable {
    var muted = false
    var clearedSeq: Int64 = 0
}

extension ShardStore {
    // MARK: On the user's shard

    func conversationPrefs(user: String, conversationID: String) throws(StoreError) -> ConversationPrefs {
        guard let row = try db.queryOne("SELECT muted, cleared_seq FROM conversation_prefs WHERE user=? AND conversation_id=?",
                                        .text(user), .text(conversationID)) else { return ConversationPrefs() }
        return ConversationPrefs(muted: (row.int(0) ?? 0) != 0, clearedSeq: row.int(1) ?? 0)
    }

    func setMuted(user: String, conversationID: String, muted: Bool) throws(StoreError) {
        try write("""
            INSERT INTO conversation_prefs(user, conversation_id, muted) VALUES(?,?,?)
            ON CONFLICT(user, conversation_id) DO UPDATE SET muted=excluded.muted
            """, .text(user), .text(conversationID), .int(muted ? 1 : 0))
    }

    func isIndexed(user: String, conversationID: String) throws(StoreError) -> Bool {
        try db.queryOne("SELECT 1 FROM user_conversations WHERE user=? AND conversation_id=?", .text(user), .text(conversationID)) != nil
    }

    func hasNotification(user: String, conversationID: String, seq: Int64) throws(StoreError) -> Bool {
        try db.queryOne("SELECT 1 FROM notifications WHERE user=? AND conversation_id=? AND seq=?",
                        .text(user), .text(conversationID), .int(seq)) != nil
    }

    /// The user's next notification id: ids only grow, even when the list empties.
    func nextNotificationID(user: String) throws(StoreError) -> Int64 {
        let last = try db.queryOne("SELECT last_id FROM notification_state WHERE user=?", .text(user))?.int(0) ?? 0
        try write("""
            INSERT INTO notification_state(user, last_id) VALUES(?,?)
            ON CONFLICT(user) DO UPDATE SET last_id=excluded.last_id
            """, .text(user), .int(last + 1))
        return last + 1
    }

    /// Adds it and drops the user's oldest beyond `NotificationLimits.maxPerUser`.
    func insertNotification(user: String, _ n: ChatNotification) throws(StoreError) {
        try write("""
            INSERT OR IGNORE INTO notifications(user, id, conversation_id, seq, sender, preview, ts) VALUES(?,?,?,?,?,?,?)
            """, .text(user), .int(n.id), .text(n.conversationID), .int(n.seq), .text(n.sender), .text(n.preview), .int(n.ts))
        if n.id > NotificationLimits.maxPerUser {
            try write("DELETE FROM notifications WHERE user=? AND id<=?", .text(user), .int(n.id - NotificationLimits.maxPerUser))
        }
    }

    func notifications(user: String, after: Int64, limit: Int) throws(StoreError) -> [ChatNotification] {
        try db.query("""
            SELECT id, conversation_id, seq, sender, preview, ts FROM notifications WHERE user=? AND id>? ORDER BY id LIMIT ?
            """, .text(user), .int(after), .int(Int64(limit))).map {
            ChatNotification(id: $0.int(0) ?? 0, conversationID: $0.text(1) ?? "", seq: $0.int(2) ?? 0, sender: $0.text(3) ?? "",
                             preview: $0.text(4) ?? "", ts: $0.int(5) ?? 0)
        }
    }

    func clearNotifications(user: String, conversationID: String, upTo read: Int64) throws(StoreError) {
        try write("DELETE FROM notifications WHERE user=? AND conversation_id=? AND seq<=?", .text(user), .text(conversationID), .int(read))
        try write("""
            INSERT INTO conversation_prefs(user, conversation_id, cleared_seq) VALUES(?,?,?)
            ON CONFLICT(user, conversation_id) DO UPDATE SET cleared_seq=max(cleared_seq, excluded.cleared_seq)
            """, .text(user), .text(conversationID), .int(read))
    }

    // MARK: On the conversation's shard

    func markNotified(conversationID: String, user: String, seq: Int64) throws(StoreError) {
        try write("""
            INSERT INTO notify_marks(conversation_id, user, seq) VALUES(?,?,?)
            ON CONFLICT(conversation_id, user) DO UPDATE SET seq=max(seq, excluded.seq)
            """, .text(conversationID), .text(user), .int(seq))
    }

    func notifiedSeq(conversationID: String, user: String) throws(StoreError) -> Int64? {
        try db.queryOne("SELECT seq FROM notify_marks WHERE conversation_id=? AND user=?", .text(conversationID), .text(user))?.int(0)
    }

    func unmarkNotified(conversationID: String, user: String) throws(StoreError) {
        try write("DELETE FROM notify_marks WHERE conversation_id=? AND user=?", .text(conversationID), .text(user))
    }

    /// Current members who joined before `seq`, but `sender`, after `after` in byte order.
    func notificationRecipients(conversationID: String, seq: Int64, sender: String, after: String, limit: Int) throws(StoreError) -> [String] {
        try db.query("""
            SELECT user FROM members WHERE conversation_id=? AND user>? AND user<>? AND left_seq IS NULL AND joined_seq<?
            ORDER BY user LIMIT ?
            """, .text(conversationID), .text(after), .text(sender), .int(seq), .int(Int64(limit))).compactMap { $0.text(0) }
    }
}
