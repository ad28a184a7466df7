/// One chat message as a log entry writes it: the primary's sequencing decision, replayed
/// unchanged by every replica.
public struct MessageWrite: Sendable, Equatable, CustomStringConvertible {
    public var conversation: Int
    public var seq: Int64
    public var clientID: Int
    public var messageID: Int64
    public var sender: String

    public var description: String { "c\(clientID)@conv\(conversation)#\(seq)" }
}

/// One entry of a shard's log: the writes of one primary's loop turn, sealed with its term.
public struct LogEntry: Sendable, Equatable {
    public var lsn: Int64
    public var term: Int64
    public var writes: [MessageWrite]
}

/// A message as a shard stores it.
public struct StoredMessage: Sendable, Equatable {
    public var messageID: Int64
    public var sender: String
    public var clientID: Int
}

/// What a shard holds for one conversation: its messages by seq, the last seq handed out, and
/// the idempotency rows (client_id → the seq of the first send with it).
public struct ConversationState: Sendable, Equatable {
    public var messages: [Int64: StoredMessage] = [:]
    public var lastSeq: Int64 = 0
    public var seqByClientID: [Int: Int64] = [:]
}

/// A node's copy of one shard: its log (the newest entries; older ones may be trimmed, the
/// last trimmed one's LSN and term kept as the base) and the state the whole log produced.
/// The simulated counterpart of a shard's SQLite file with its `ShardLog`.
public struct ShardCopy: Sendable, Equatable {
    /// Entries up to this LSN are trimmed (0: the log reaches back to entry 1).
    public private(set) var base: Int64 = 0
    public private(set) var baseTerm: Int64 = 0
    public private(set) var entries: [LogEntry] = []
    public private(set) var conversations: [Int: ConversationState] = [:]

    public init() {}

    public var lastLSN: Int64 { base + Int64(entries.count) }
    public var lastTerm: Int64 { entries.last?.term ?? baseTerm }

    /// The term of the entry at `lsn`; nil when the log does not hold it (trimmed or beyond
    /// the end). LSN 0 is the empty log's start, term 0. As `ShardStore.term(at:)`: the last
    /// entry's term is known even when the log holds no entries (after a snapshot).
    public func term(at lsn: Int64) -> Int64? {
        if lsn == 0 { return 0 }
        if lsn == lastLSN { return lastTerm }
        guard lsn > base, lsn <= lastLSN else { return nil }
        return entries[Int(lsn - base) - 1].term
    }

    /// The entries (after, through], or nil when some of them are trimmed.
    public func entries(after: Int64, through: Int64) -> [LogEntry]? {
        if after >= lastLSN { return [] }
        guard after >= base, through <= lastLSN, after <= through else { return nil }
        return Array(entries[Int(after - base)..<Int(through - base)])
    }

    /// Whether the log still holds entry 1 (nothing trimmed).
    public var reachesBackToStart: Bool { base == 0 }

    /// Appends the next entry and applies its writes.
    public mutating func append(_ entry: LogEntry) {
        precondition(entry.lsn == lastLSN + 1, "entry \(entry.lsn) after \(lastLSN)")
        entries.append(entry)
        for write in entry.writes {
            var c = conversations[write.conversation] ?? ConversationState()
            c.messages[write.seq] = StoredMessage(messageID: write.messageID, sender: write.sender, clientID: write.clientID)
            c.lastSeq = max(c.lastSeq, write.seq)
            if c.seqByClientID[write.clientID] == nil { c.seqByClientID[write.clientID] = write.seq }
            conversations[write.conversation] = c
        }
    }

    /// Drops all but the newest `keep` entries (the state is unchanged).
    public mutating func trim(keep: Int) {
        guard entries.count > keep else { return }
        let drop = entries.count - keep
        base = entries[drop - 1].lsn
        baseTerm = entries[drop - 1].term
        entries.removeFirst(drop)
    }

    /// Loses a stored message (and its idempotency row): how checker tests plant a bug.
    mutating func forget(conversation id: Int, seq: Int64) {
        guard let clientID = conversations[id]?.messages.removeValue(forKey: seq)?.clientID else { return }
        conversations[id]?.seqByClientID[clientID] = nil
    }

    public func conversation(_ id: Int) -> ConversationState? { conversations[id] }

    /// Conversation ids in ascending order (every report and check iterates in this order).
    public var conversationIDs: [Int] { conversations.keys.sorted() }
}
