import Store

/// A message as the checker sees it: who sent it, under which client id.
public struct SimStoredMessage: Sendable, Equatable {
    public var messageID: String
    public var sender: String
    public var clientID: Int
}

/// What a shard holds for one conversation: its messages by seq, the last seq handed out, and
/// the idempotency rows (client_id → the seq of the first send with it).
public struct ConversationState: Sendable, Equatable {
    public var messages: [Int64: SimStoredMessage] = [:]
    public var lastSeq: Int64 = 0
    public var seqByClientID: [Int: Int64] = [:]
}

/// A node's copy of one shard as the checker reads it from the node's (simulated) disk: the
/// log's position and terms, and the conversations the simulation's clients write. Read from
/// the real SQLite database the production code wrote.
public struct ShardView: Sendable, Equatable {
    public var lastLSN: Int64 = 0
    public var lastTerm: Int64 = 0
    /// Entries up to this LSN are trimmed (0: the log reaches back to entry 1).
    public var base: Int64 = 0
    /// The log's entries' terms, by LSN.
    public var terms: [Int64: Int64] = [:]
    public var conversations: [Int: ConversationState] = [:]

    public func term(at lsn: Int64) -> Int64? {
        if lsn == 0 { return 0 }
        if lsn == lastLSN { return lastTerm }
        return terms[lsn]
    }

    public var reachesBackToStart: Bool { base == 0 }
    public func conversation(_ id: Int) -> ConversationState? { conversations[id] }
    /// Conversation ids in ascending order (every report and check iterates in this order).
    public var conversationIDs: [Int] { conversations.keys.sorted() }

    /// Reads the copy from `store`; `conversation` maps a stored conversation id back to the
    /// simulation's number (nil: not one of its conversations).
    static func read(_ store: ShardStore, conversation: (String) -> Int?) throws(StoreError) -> ShardView {
        var view = ShardView()
        view.lastLSN = store.lastLSN
        view.lastTerm = store.lastTerm
        let log = try store.db.query("SELECT lsn, term FROM shard_log ORDER BY lsn")
        for row in log { view.terms[row.int(0) ?? 0] = row.int(1) ?? 0 }
        view.base = log.first.map { ($0.int(0) ?? 1) - 1 } ?? view.lastLSN
        for row in try store.db.query("SELECT id, last_seq FROM conversations") {
            guard let id = row.text(0).flatMap(conversation) else { continue }
            view.conversations[id, default: ConversationState()].lastSeq = row.int(1) ?? 0
        }
        for row in try store.db.query("SELECT conversation_id, seq, message_id, sender, client_id FROM messages") {
            guard let id = row.text(0).flatMap(conversation), let clientText = row.text(4), clientText.hasPrefix("c"),
                  let client = Int(clientText.dropFirst()) else { continue }
            let seq = row.int(1) ?? 0
            var state = view.conversations[id, default: ConversationState()]
            state.messages[seq] = SimStoredMessage(messageID: row.text(2) ?? "", sender: row.text(3) ?? "", clientID: client)
            if state.seqByClientID[client] == nil || state.seqByClientID[client]! > seq { state.seqByClientID[client] = seq }
            view.conversations[id] = state
        }
        return view
    }
}
