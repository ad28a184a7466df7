/// The schema of a shard file. Every shard file has the same tables; a shard holds the users
/// and the conversations whose keys hash to it (DESIGN.md "Sharding").
enum ShardSchema {
    static let migrations: [Migration] = [
        Migration(version: 1, sql: """
            CREATE TABLE users(
                id TEXT PRIMARY KEY,
                password_hash TEXT NOT NULL,
                display_name TEXT NOT NULL,
                about TEXT NOT NULL DEFAULT '',
                avatar TEXT NOT NULL DEFAULT '',
                last_seen_visibility TEXT NOT NULL DEFAULT 'everyone',
                last_seen INTEGER NOT NULL DEFAULT 0,
                created_at INTEGER NOT NULL
            ) WITHOUT ROWID;
            CREATE TABLE sessions(
                token_hash BLOB PRIMARY KEY,
                user TEXT NOT NULL,
                device TEXT NOT NULL,
                created_at INTEGER NOT NULL,
                expires_at INTEGER NOT NULL
            ) WITHOUT ROWID;
            CREATE INDEX sessions_by_expiry ON sessions(expires_at);
            CREATE TABLE user_conversations(
                user TEXT NOT NULL,
                conversation_id TEXT NOT NULL,
                added_at INTEGER NOT NULL,
                PRIMARY KEY(user, conversation_id)
            ) WITHOUT ROWID;
            CREATE TABLE conversations(
                id TEXT PRIMARY KEY,
                kind TEXT NOT NULL,
                title TEXT NOT NULL DEFAULT '',
                last_seq INTEGER NOT NULL DEFAULT 0,
                last_ts INTEGER NOT NULL DEFAULT 0,
                history_visible INTEGER NOT NULL DEFAULT 1,
                created_at INTEGER NOT NULL
            ) WITHOUT ROWID;
            CREATE TABLE members(
                conversation_id TEXT NOT NULL,
                user TEXT NOT NULL,
                role TEXT NOT NULL DEFAULT 'member',
                joined_seq INTEGER NOT NULL DEFAULT 0,
                left_seq INTEGER,
                delivered INTEGER NOT NULL DEFAULT 0,
                read INTEGER NOT NULL DEFAULT 0,
                PRIMARY KEY(conversation_id, user)
            ) WITHOUT ROWID;
            -- Keyed by (conversation, seq): a history page is one range scan.
            CREATE TABLE messages(
                conversation_id TEXT NOT NULL,
                seq INTEGER NOT NULL,
                message_id TEXT NOT NULL,
                sender TEXT NOT NULL,
                client_id TEXT NOT NULL,
                ts INTEGER NOT NULL,
                kind TEXT NOT NULL,
                body TEXT NOT NULL,
                attachments TEXT NOT NULL DEFAULT '',
                tip_cents INTEGER,
                tip_currency TEXT,
                hidden_for TEXT,
                PRIMARY KEY(conversation_id, seq)
            ) WITHOUT ROWID;
            -- Idempotent sends: one message per (conversation, sender, client_id).
            CREATE UNIQUE INDEX messages_by_client_id ON messages(conversation_id, sender, client_id);
            """),
        // The shard's replication log: one row per committed batch of writes (ShardLog.swift).
        Migration(version: 2, sql: """
            CREATE TABLE shard_log(
                lsn INTEGER PRIMARY KEY,
                term INTEGER NOT NULL,
                entry BLOB NOT NULL
            );
            """),
        // The log's entries became row changes (changesets) instead of statements. Entries
        // of the statement log cannot be shipped any more: only the newest row is kept, with
        // an empty entry, as the marker of where the log stands (its LSN and term); a replica
        // behind it gets a snapshot (docs/OPERATIONS.md "Data layout").
        Migration(version: 3, sql: """
            DELETE FROM shard_log WHERE lsn < (SELECT max(lsn) FROM shard_log);
            UPDATE shard_log SET entry = X'';
            """),
        // The outbox: work for other shards that a write of this shard started, driven by the
        // shard's primary until done (Sources/Chat/Service/Outbox.swift).
        Migration(version: 4, sql: """
            CREATE TABLE outbox(
                id TEXT PRIMARY KEY,
                kind TEXT NOT NULL,
                origin TEXT NOT NULL,
                payload BLOB NOT NULL,
                progress BLOB,
                created_at INTEGER NOT NULL
            ) WITHOUT ROWID;
            """),
        // Groups' invite links (Sources/Chat/Features/Invites.swift).
        Migration(version: 5, sql: """
            CREATE TABLE invites(
                code TEXT PRIMARY KEY,
                conversation_id TEXT NOT NULL,
                created_by TEXT NOT NULL,
                max_uses INTEGER,
                uses INTEGER NOT NULL DEFAULT 0,
                expires_at INTEGER,
                revoked INTEGER NOT NULL DEFAULT 0,
                created_at INTEGER NOT NULL
            ) WITHOUT ROWID;
            CREATE INDEX invites_by_conversation ON invites(conversation_id);
            -- Group changes applied, by the request id their client sent (Groups.swift).
            CREATE TABLE group_requests(
                conversation_id TEXT NOT NULL,
                request_id TEXT NOT NULL,
                at INTEGER NOT NULL,
                PRIMARY KEY(conversation_id, request_id)
            ) WITHOUT ROWID;
            """),
        // Wallets and tips (Sources/Chat/Features/Wallet.swift): balances on each user's
        // shard, the outcome of each tip's charge keyed by (sender, client_id) so a retry is
        // never charged twice, and the credits applied (keyed so each applies once).
        Migration(version: 7, sql: """
            CREATE TABLE wallets(
                user TEXT PRIMARY KEY,
                balance_cents INTEGER NOT NULL DEFAULT 0,
                received_cents INTEGER NOT NULL DEFAULT 0,
                currency TEXT NOT NULL DEFAULT 'USD'
            ) WITHOUT ROWID;
            CREATE TABLE charges(
                user TEXT NOT NULL,
                client_id TEXT NOT NULL,
                status TEXT NOT NULL,
                amount_cents INTEGER NOT NULL,
                currency TEXT NOT NULL,
                recipient TEXT NOT NULL,
                at INTEGER NOT NULL,
                PRIMARY KEY(user, client_id)
            ) WITHOUT ROWID;
            CREATE TABLE wallet_entries(
                user TEXT NOT NULL,
                entry_id TEXT NOT NULL,
                kind TEXT NOT NULL,
                amount_cents INTEGER NOT NULL,
                at INTEGER NOT NULL,
                PRIMARY KEY(user, entry_id)
            ) WITHOUT ROWID;
            -- Revoking every session of a user (relaynode admin revoke-sessions).
            CREATE INDEX sessions_by_user ON sessions(user);
            """),
        // Blocks, the moderation log, creator lists and their mass messages
        // (Sources/Chat/Features/Blocks.swift, Lists.swift). A user's `blocks` (the source of
        // truth) and `moderation_log` live on the user's shard; `direct_blocks` marks a block
        // on the direct chat's shard, where a send reads it. A list's members carry the list
        // versions they were added and removed at, so a started mass message iterates the
        // membership as it was at its POST.
        Migration(version: 6, sql: """
            CREATE TABLE blocks(
                user TEXT NOT NULL,
                blocked TEXT NOT NULL,
                active INTEGER NOT NULL,
                version INTEGER NOT NULL,
                changed_at INTEGER NOT NULL,
                PRIMARY KEY(user, blocked)
            ) WITHOUT ROWID;
            CREATE TABLE direct_blocks(
                conversation_id TEXT NOT NULL,
                blocker TEXT NOT NULL,
                active INTEGER NOT NULL,
                version INTEGER NOT NULL,
                PRIMARY KEY(conversation_id, blocker)
            ) WITHOUT ROWID;
            CREATE TABLE moderation_log(
                user TEXT NOT NULL,
                conversation_id TEXT NOT NULL,
                seq INTEGER NOT NULL,
                sender TEXT NOT NULL,
                ts INTEGER NOT NULL,
                preview TEXT NOT NULL,
                PRIMARY KEY(user, conversation_id, seq)
            ) WITHOUT ROWID;
            CREATE INDEX moderation_log_by_user_time ON moderation_log(user, ts);
            CREATE INDEX moderation_log_by_time ON moderation_log(ts);
            CREATE TABLE lists(
                owner TEXT NOT NULL,
                list_id TEXT NOT NULL,
                name TEXT NOT NULL,
                size INTEGER NOT NULL,
                version INTEGER NOT NULL,
                created_at INTEGER NOT NULL,
                PRIMARY KEY(owner, list_id)
            ) WITHOUT ROWID;
            CREATE TABLE list_members(
                list_id TEXT NOT NULL,
                member TEXT NOT NULL,
                added_v INTEGER NOT NULL,
                removed_v INTEGER,
                PRIMARY KEY(list_id, member, added_v)
            ) WITHOUT ROWID;
            CREATE TABLE list_messages(
                list_id TEXT NOT NULL,
                client_id TEXT NOT NULL,
                recipients INTEGER NOT NULL,
                version INTEGER NOT NULL,
                created_at INTEGER NOT NULL,
                PRIMARY KEY(list_id, client_id)
            ) WITHOUT ROWID;
            """),
        // The key directory (Chat/Features/Keys.swift), on the owner's user shard.
        Migration(version: 11, sql: """
            CREATE TABLE device_keys(
                user TEXT NOT NULL,
                device TEXT NOT NULL,
                identity_key TEXT NOT NULL,
                signed_prekey TEXT NOT NULL,
                updated_at INTEGER NOT NULL,
                PRIMARY KEY(user, device)
            ) WITHOUT ROWID;
            CREATE TABLE one_time_prekeys(
                user TEXT NOT NULL,
                device TEXT NOT NULL,
                id INTEGER NOT NULL,
                prekey TEXT NOT NULL,
                used INTEGER NOT NULL,
                PRIMARY KEY(user, device, id)
            ) WITHOUT ROWID;
            """),
        // Presence and profile privacy (Sources/Chat/Features/Presence.swift, Profiles.swift):
        // whether the user is online cluster-wide as their shard's primary last decided (its
        // `last_seen` is stored when they go offline), and who sees `about` and `avatar`. The
        // partial index lets each primary's sweep find the users it holds online cheaply.
        Migration(version: 9, sql: """
            ALTER TABLE users ADD COLUMN profile_visibility TEXT NOT NULL DEFAULT 'everyone';
            ALTER TABLE users ADD COLUMN online INTEGER NOT NULL DEFAULT 0;
            CREATE INDEX users_online ON users(id) WHERE online=1;
            """),
        // Assets (Chat/Features/Assets.swift, docs/ASSETS.md).
        Migration(version: 8, sql: """
            CREATE TABLE assets(
                asset_id TEXT PRIMARY KEY NOT NULL,
                sha256 TEXT NOT NULL,
                size INTEGER NOT NULL,
                content_type TEXT NOT NULL,
                uploader TEXT NOT NULL,
                created_at INTEGER NOT NULL
            ) WITHOUT ROWID;
            CREATE INDEX assets_by_sha256 ON assets(sha256);
            CREATE TABLE asset_refs(
                asset_id TEXT NOT NULL,
                conversation_id TEXT NOT NULL,
                seq INTEGER NOT NULL,
                PRIMARY KEY(asset_id, conversation_id, seq)
            ) WITHOUT ROWID;
            ALTER TABLE messages ADD COLUMN width INTEGER;
            ALTER TABLE messages ADD COLUMN height INTEGER;
            """),
        // Notifications, mute and devices (Sources/Chat/Features/Notifications.swift,
        // Devices.swift). On a user's shard: the in-app list (ids per user, counted in
        // `notification_state` so they never go back), per-conversation preferences (muted, and
        // the read seq that cleared notifications up to it) and the devices. On a conversation's
        // shard: the highest seq a member may have been notified of (so only those receipts
        // start a clearing job) and each device's delivered cursor.
        Migration(version: 10, sql: """
            CREATE TABLE notifications(
                user TEXT NOT NULL,
                id INTEGER NOT NULL,
                conversation_id TEXT NOT NULL,
                seq INTEGER NOT NULL,
                sender TEXT NOT NULL,
                preview TEXT NOT NULL,
                ts INTEGER NOT NULL,
                PRIMARY KEY(user, id)
            ) WITHOUT ROWID;
            CREATE UNIQUE INDEX notifications_by_message ON notifications(user, conversation_id, seq);
            CREATE TABLE notification_state(
                user TEXT PRIMARY KEY,
                last_id INTEGER NOT NULL
            ) WITHOUT ROWID;
            CREATE TABLE conversation_prefs(
                user TEXT NOT NULL,
                conversation_id TEXT NOT NULL,
                muted INTEGER NOT NULL DEFAULT 0,
                cleared_seq INTEGER NOT NULL DEFAULT 0,
                PRIMARY KEY(user, conversation_id)
            ) WITHOUT ROWID;
            CREATE TABLE notify_marks(
                conversation_id TEXT NOT NULL,
                user TEXT NOT NULL,
                seq INTEGER NOT NULL,
                PRIMARY KEY(conversation_id, user)
            ) WITHOUT ROWID;
            CREATE TABLE devices(
                user TEXT NOT NULL,
                device TEXT NOT NULL,
                node TEXT NOT NULL,
                online INTEGER NOT NULL,
                first_seen INTEGER NOT NULL,
                last_seen INTEGER NOT NULL,
                PRIMARY KEY(user, device)
            ) WITHOUT ROWID;
            CREATE TABLE device_cursors(
                conversation_id TEXT NOT NULL,
                user TEXT NOT NULL,
                device TEXT NOT NULL,
                delivered INTEGER NOT NULL,
                PRIMARY KEY(conversation_id, user, device)
            ) WITHOUT ROWID;
            """),
    ]
}
