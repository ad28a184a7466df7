import Hashing
import Ring
import Store

/// What replication tells the shard service: the term to seal a shard's entries with,
/// that an entry was committed locally, and how far the replicas hold the shard's log.
public protocol ReplicationGate: AnyObject {
    func term(_ shard: Int) -> Int64
    func committed(shard: Int, lsn: Int64)
    func released(_ shard: Int) -> Int64
}

/// Serves `ShardRequest`s for the shards this node leads, on the node's event loop.
///
/// Group commit: every write joins its shard's open transaction; replies that depend on a
/// write wait in `pending` until `commit()` (called once per loop turn) has made the turn's
/// writes durable. Acks and pushes therefore never get ahead of the disk.
public final class ShardService {
    public let nodeID: String
    let files: ShardFiles
    let shardMap: ShardMap
    let random: RandomSource
    public weak var sink: EventSink?
    /// Runs a closure after a delay on the loop (the receipt coalescer's timer).
    let schedule: (Int64, @escaping () -> Void) -> Void
    let clock: () -> Int64

    private struct Pending {
        let shard: Int
        let onCommit: () -> Void
        let onFailure: (ChatError) -> Void
    }
    private var pending: [Pending] = []
    /// Replies committed locally and waiting for the replicas, per shard, in LSN order.
    private var waiting: [Int: [(lsn: Int64, pending: Pending)]] = [:]
    private var coalescer = ReceiptCoalescer()
    /// Replication (nil on a node without replicas: a local commit releases the replies).
    public weak var gate: ReplicationGate?

    /// The longest history page (PROTOCOL.md).
    public static let maxPageSize = 100

    public init(nodeID: String, files: ShardFiles, shardMap: ShardMap, random: RandomSource,
                clock: @escaping () -> Int64, schedule: @escaping (Int64, @escaping () -> Void) -> Void) {
        self.nodeID = nodeID
        self.files = files
        self.shardMap = shardMap
        self.random = random
        self.clock = clock
        self.schedule = schedule
    }

    public typealias Reply = (Result<ShardReply, ChatError>) -> Void

    public func handle(_ request: ShardRequest, reply: @escaping Reply) {
        let shard = shardMap.shard(forKey: request.key)
        let store: ShardStore
        do { store = try files.store(shard) } catch {
            reply(.failure(.unavailable("shard \(shard) cannot be opened")))
            return
        }
        do {
            try serve(request, store: store, now: clock(), reply: reply)
        } catch {
            reply(.failure(.unavailable("storage error on shard \(shard)")))
        }
    }

    /// Commits the turn's writes, then releases the replies and pushes that waited on them.
    /// Those may issue new writes (opening a chat, then sending into it): `commitAll` repeats
    /// until none are left, a bounded number of rounds.
    private func commit() {
        guard !pending.isEmpty || !files.dirtyShards.isEmpty else { return }
        let gate = self.gate
        let result = files.commitAll(term: { gate?.term($0) ?? 1 })
        for (shard, entry) in result.entries { gate?.committed(shard: shard, lsn: entry.lsn) }
        let done = pending
        pending = []
        for p in done {
            if result.failed[p.shard] != nil {
                p.onFailure(.unavailable("commit failed on shard \(p.shard)"))
            } else if let gate, let head = try? files.store(p.shard).lastLSN, gate.released(p.shard) < head {
                // A reply waits for the shard's newest entry: its own write, or (a repeat,
                // a read-your-write) one committed before and not yet on every replica.
                waiting[p.shard, default: []].append((head, p))
            } else {
                p.onCommit()
            }
        }
    }

    /// The replicas hold the shard's entries up to `lsn`: answer the replies waiting on them.
    public func release(shard: Int, through lsn: Int64) {
        guard let list = waiting[shard], let first = list.first, first.lsn <= lsn else { return }
        let ready = list.prefix { $0.lsn <= lsn }
        waiting[shard] = list.count == ready.count ? nil : Array(list.dropFirst(ready.count))
        for item in ready { item.pending.onCommit() }
    }

    /// This node stopped leading the shard: its uncommitted writes are dropped and every
    /// reply still waiting fails `unavailable` (the client retries at the new primary; a
    /// send is idempotent on its client_id, so it is stored once either way).
    public func abandon(shard: Int) {
        if files.isOpen(shard), let store = try? files.store(shard) { store.rollback() }
        let mine = pending.filter { $0.shard == shard }
        pending.removeAll { $0.shard == shard }
        let held = waiting.removeValue(forKey: shard) ?? []
        let error = ChatError.unavailable("shard \(shard) changed primary; retry", retryAfterMs: 0)
        for p in mine { p.onFailure(error) }
        for item in held { item.pending.onFailure(error) }
    }

    /// Replies waiting for replicas, on every shard.
    public var waitingCount: Int { waiting.values.reduce(0) { $0 + $1.count } }

    /// Rounds of `commit` per loop turn: a request chain is a handful of steps long.
    static let maxCommitRounds = 16

    /// Commits until no write is waiting; true if some still are (the caller runs another
    /// loop turn at once instead of sleeping).
    @discardableResult
    public func commitAll() -> Bool {
        for _ in 0..<Self.maxCommitRounds {
            commit()
            if pending.isEmpty && files.dirtyShards.isEmpty { return false }
        }
        return true
    }

    private func afterCommit(_ shard: Int, _ reply: @escaping Reply, _ result: ShardReply, then effects: @escaping () -> Void = {}) {
        pending.append(Pending(shard: shard, onCommit: { reply(.success(result)); effects() },
                               onFailure: { reply(.failure($0)) }))
    }

    private func serve(_ request: ShardRequest, store: ShardStore, now: Int64, reply: @escaping Reply) throws(StoreError) {
        let shard = store.shard
        switch request {
        case .createUser(let user, let hash, let displayName, let session):
            guard try store.insertUser(id: user, passwordHash: hash, displayName: displayName, now: now) else {
                reply(.failure(ChatError(.conflict, "user id \(user) is taken")))
                return
            }
            try store.insertSession(tokenHash: session.tokenHash, user: user, device: session.device, now: now, expiresAt: session.expiresAt)
            afterCommit(shard, reply, .done)

        case .passwordHash(let user):
            reply(.success(.passwordHash(try store.passwordHash(user: user))))

        case .createSession(let session):
            try store.insertSession(tokenHash: session.tokenHash, user: session.user, device: session.device, now: now, expiresAt: session.expiresAt)
            afterCommit(shard, reply, .done)

        case .session(let user, let tokenHash):
            guard let session = try store.session(tokenHash: tokenHash), session.user == user, session.expiresAt > now else {
                reply(.success(.session(nil)))
                return
            }
            reply(.success(.session(session)))

        case .deleteSession(_, let tokenHash):
            let existed = try store.deleteSession(tokenHash: tokenHash)
            afterCommit(shard, reply, .flag(existed))

        case .userExists(let user):
            reply(.success(.flag(try store.user(user) != nil)))

        case .addToIndex(let user, let conversationID):
            try store.addToIndex(user: user, conversationID: conversationID, now: now)
            afterCommit(shard, reply, .done)

        case .conversationIndex(let user):
            reply(.success(.index(try store.conversationIDs(user: user))))

        case .openDirect(let conversationID):
            guard let (a, b) = Identifiers.directMembers(conversationID) else {
                reply(.failure(.badRequest("not a direct conversation id")))
                return
            }
            _ = try store.insertConversation(id: conversationID, kind: "direct", title: "", historyVisible: true, now: now)
            try store.insertMember(conversationID: conversationID, user: a, role: "member", joinedSeq: 0)
            try store.insertMember(conversationID: conversationID, user: b, role: "member", joinedSeq: 0)
            afterCommit(shard, reply, .done)

        case .conversationExists(let conversationID):
            reply(.success(.flag(try store.conversation(conversationID) != nil)))

        case .send(let message):
            try send(message, store: store, now: now, reply: reply)

        case .messages(let conversationID, let reader, let query):
            try messages(conversationID, reader: reader, query: query, store: store, reply: reply)

        case .setCursors(let conversationID, let user, let delivered, let read):
            try setCursors(conversationID, user: user, delivered: delivered, read: read, store: store, now: now, reply: reply)

        case .summaries(let user, let ids):
            var out: [ConversationSummary] = []
            for id in ids {
                guard let conversation = try store.conversation(id),
                      let member = try store.member(conversationID: id, user: user) else { continue }
                let visibleUpTo = min(conversation.lastSeq, member.leftSeq ?? .max)
                let unread = try store.unreadCount(conversationID: id, reader: user, after: max(member.read, member.joinedSeq), upTo: visibleUpTo)
                out.append(ConversationSummary(
                    conversationID: id, kind: conversation.kind, title: title(conversation, for: user),
                    lastSeq: visibleUpTo, lastTs: conversation.lastTs,
                    delivered: member.delivered, read: member.read, unread: unread))
            }
            reply(.success(.summaries(out)))

        case .typing(let conversationID, let user):
            guard let member = try store.member(conversationID: conversationID, user: user), member.leftSeq == nil else {
                reply(.failure(Self.notMember(conversationID)))
                return
            }
            let others = try store.members(conversationID: conversationID).filter { $0.leftSeq == nil && $0.user != user }.map(\.user)
            sink?.push(EventJSON.typingEvent(conversationID: conversationID, user: user), to: others, except: nil)
            reply(.success(.done))
        }
    }

    /// Reads and writes of a conversation the user is not in: the same answer whether or not
    /// it exists, so ids cannot be probed.
    static func notMember(_ id: String) -> ChatError { ChatError(.forbidden, "not a member of \(id)") }

    /// A direct chat is titled with the other member's id; a group with its title.
    private func title(_ conversation: ConversationRecord, for user: String) -> String {
        guard conversation.kind == "direct", let (a, b) = Identifiers.directMembers(conversation.id) else { return conversation.title }
        return a == user ? b : a
    }

    /// The conversation's sequencer: membership, idempotency, the next seq, the write.
    private func send(_ m: NewMessage, store: ShardStore, now: Int64, reply: @escaping Reply) throws(StoreError) {
        let shard = store.shard
        guard let conversation = try store.conversation(m.conversationID) else {
            reply(.failure(ChatError(.notFound, "no conversation \(m.conversationID)")))
            return
        }
        guard let member = try store.member(conversationID: m.conversationID, user: m.sender), member.leftSeq == nil else {
            reply(.failure(Self.notMember(m.conversationID)))
            return
        }
        // Idempotent on (sender, client_id): a repeat gets the first ack, stores nothing. It
        // still waits for the commit, since the first may be in this very turn's batch.
        if let first = try store.message(conversationID: m.conversationID, sender: m.sender, clientID: m.clientID) {
            afterCommit(shard, reply, .ack(Ack(clientID: first.clientID, conversationID: first.conversationID,
                                               seq: first.seq, messageID: first.messageID, ts: first.ts)))
            return
        }
        let stored = StoredMessage(
            conversationID: m.conversationID, seq: conversation.lastSeq + 1,
            messageID: "m_" + Hex.encode(random.bytes(12)), sender: m.sender, clientID: m.clientID,
            ts: max(now, conversation.lastTs), kind: m.kind, body: m.body, attachments: m.attachments, tip: m.tip)
        try store.insertMessage(stored)
        try store.setLastSeq(conversationID: m.conversationID, seq: stored.seq, ts: stored.ts)
        let recipients = try store.members(conversationID: m.conversationID)
            .filter { $0.leftSeq == nil }.map(\.user)
        let ack = Ack(clientID: stored.clientID, conversationID: stored.conversationID, seq: stored.seq,
                      messageID: stored.messageID, ts: stored.ts)
        afterCommit(shard, reply, .ack(ack)) { [weak self] in
            self?.sink?.push(EventJSON.messageEvent(stored), to: recipients, except: m.origin)
        }
    }

    private func messages(_ id: String, reader: String, query: HistoryQuery, store: ShardStore, reply: @escaping Reply) throws(StoreError) {
        guard let conversation = try store.conversation(id),
              let member = try store.member(conversationID: id, user: reader) else {
            reply(.failure(Self.notMember(id)))
            return
        }
        let limit = max(1, min(query.limit, Self.maxPageSize))
        // The member's window: from the first visible seq to the removal, if any.
        let floor = member.firstVisibleSeq(historyVisible: conversation.historyVisible) - 1
        let ceiling = (member.leftSeq ?? conversation.lastSeq) + 1
        let after = max(query.after ?? 0, floor)
        let before = min(query.before ?? .max, ceiling)
        // With `after` alone (or both), the page reads forward from it; otherwise it is the
        // newest `limit` below `before`. One extra row tells `has_more`.
        let forward = query.after != nil
        let rows = try store.messages(conversationID: id, reader: reader, after: after, before: before,
                                      limit: limit + 1, newest: !forward)
        let hasMore = rows.count > limit
        let page = hasMore ? (forward ? Array(rows.prefix(limit)) : Array(rows.suffix(limit))) : rows
        reply(.success(.page(messages: page, hasMore: hasMore)))
    }

    private func setCursors(_ id: String, user: String, delivered: Int64?, read: Int64?, store: ShardStore, now: Int64,
                            reply: @escaping Reply) throws(StoreError) {
        let shard = store.shard
        guard let conversation = try store.conversation(id),
              let member = try store.member(conversationID: id, user: user) else {
            reply(.failure(Self.notMember(id)))
            return
        }
        // Cursors only move forward, never past the last message; reading implies delivery.
        let top = member.leftSeq ?? conversation.lastSeq
        let newRead = min(max(member.read, read ?? 0), top)
        let newDelivered = min(max(member.delivered, delivered ?? 0, newRead), top)
        guard newRead != member.read || newDelivered != member.delivered else {
            reply(.success(.cursors(delivered: member.delivered, read: member.read)))
            return
        }
        try store.setCursors(conversationID: id, user: user, delivered: newDelivered, read: newRead)
        // Who sees it: the user's own devices; in a direct chat the other member; in a group
        // only the senders whose messages the new cursors newly cover.
        var recipients: Set<String> = [user]
        if conversation.kind == "direct" {
            for other in try store.members(conversationID: id) { recipients.insert(other.user) }
        } else {
            let from = min(member.read, member.delivered)
            for sender in try store.senders(conversationID: id, after: from, upTo: max(newRead, newDelivered)) {
                recipients.insert(sender)
            }
        }
        afterCommit(shard, reply, .cursors(delivered: newDelivered, read: newRead)) { [weak self] in
            self?.announceReceipt(conversationID: id, user: user, recipients: recipients, delivered: newDelivered, read: newRead)
        }
    }

    private func announceReceipt(conversationID: String, user: String, recipients: Set<String>, delivered: Int64, read: Int64) {
        let key = ReceiptCoalescer.Key(conversationID: conversationID, user: user)
        switch coalescer.offer(key, recipients: recipients, now: clock()) {
        case .merged:
            return
        case .sendNow:
            sink?.push(EventJSON.receiptEvent(conversationID: conversationID, user: user, delivered: delivered, read: read),
                       to: recipients.sorted(), except: nil)
        case .sendAt(let at):
            schedule(max(0, at - clock())) { [weak self] in self?.fireReceipt(key) }
        }
    }

    /// Sends the merged receipt with the cursors as they stand now.
    private func fireReceipt(_ key: ReceiptCoalescer.Key) {
        let recipients = coalescer.fire(key, now: clock())
        guard !recipients.isEmpty,
              let store = try? files.store(shardMap.shard(forKey: "conv:" + key.conversationID)),
              let member = try? store.member(conversationID: key.conversationID, user: key.user) else { return }
        sink?.push(EventJSON.receiptEvent(conversationID: key.conversationID, user: key.user,
                                          delivered: member.delivered, read: member.read),
                   to: recipients.sorted(), except: nil)
    }
}
