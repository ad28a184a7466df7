import Store

// The front's side of messages (the shard operations are in Messaging.swift and
// Receipts.swift): a send opens its direct chat first when needed, then goes to the
// conversation's shard; history, receipts and typing go straight there.
extension ChatService {
    /// Direct chats remembered as open. Bounded: when full it is forgotten, which costs one
    /// more (idempotent) open per chat.
    static let maxRememberedOpenChats = 200_000
    /// Direct chats being opened at once from this node; past it a first message gets
    /// `unavailable` (its client retries).
    static let maxOpening = 10_000

    public func send(_ session: Session, _ command: SendCommand, origin: ConnectionRef?, reply: @escaping (Result<Ack, ChatError>) -> Void) {
        if !command.attachments.isEmpty, !command.attachmentsChecked {
            // Assets (ChatService+Assets.swift): only assets the sender can read.
            return checkAttachments(command.attachments[...], user: session.user) { [self] checked in
                if case .failure(let error) = checked { return reply(.failure(error)) }
                var command = command
                command.attachmentsChecked = true
                self.send(session, command, origin: origin, reply: reply)
            }
        }
        if command.tip != nil { return sendTip(session, command, origin: origin, reply: reply) }   // ChatService+Wallet.swift
        let conversationID: String
        switch command.target {
        case .user(let to): conversationID = Identifiers.directConversation(session.user, to)
        case .conversation(let id): conversationID = id
        }
        var message = NewMessage(conversationID: conversationID, sender: session.user, clientID: command.clientID,
                                 kind: command.kind, body: command.body, attachments: command.attachments,
                                 tip: command.tip, origin: origin)
        message.width = command.width
        message.height = command.height
        let send = SendMessage(message)
        // A direct chat this node has not seen open is opened first, and sends to it that
        // arrive meanwhile wait behind the opening one, so a burst of first messages is
        // stored in the order it was sent.
        if Identifiers.directMembers(conversationID) != nil, !openDirects.contains(conversationID) {
            if opening[conversationID] != nil {
                opening[conversationID]!.append { [self] in self.send(session, command, origin: origin, reply: reply) }
                return
            }
            guard opening.count < Self.maxOpening else {
                return reply(.failure(.unavailable("too many chats opening on this node", retryAfterMs: 1_000)))
            }
            opening[conversationID] = []
            openDirect(conversationID, for: session.user) { [self] opened in
                let waiting = opening.removeValue(forKey: conversationID) ?? []
                switch opened {
                case .failure(let error): reply(.failure(error))
                case .success:
                    rememberOpen(conversationID)
                    router.call(send, reply: reply)
                }
                waiting.forEach { $0() }
            }
            return
        }
        router.call(send) { [self] result in
            if case .failure(let error) = result, error.code == .notFound, Identifiers.directMembers(conversationID) != nil {
                // Remembered as open but gone (a cache from before a restore): open it again, once.
                openDirects.remove(conversationID)
                return openDirect(conversationID, for: session.user) { [self] opened in
                    if case .failure(let error) = opened { return reply(.failure(error)) }
                    router.call(send, reply: reply)
                }
            }
            if case .failure(let error) = result, error.code == .notFound {
                return reply(.failure(ShardService.notMember(conversationID)))
            }
            reply(result)
        }
    }

    func rememberOpen(_ id: String) {
        if openDirects.count >= Self.maxRememberedOpenChats { openDirects.removeAll(keepingCapacity: true) }
        openDirects.insert(id)
    }

    /// The first message of a direct chat makes it: the other user must exist; both users'
    /// conversation indexes list it before the message is sent (`OpenDirect` answers once its
    /// outbox job wrote them; if that job could not finish, the shard's primary finishes it
    /// later). A chat that already exists (the usual case on a node that restarted or that a
    /// client failed over to) needs only its own shard.
    func openDirect(_ id: String, for user: String, done: @escaping (Result<Void, ChatError>) -> Void) {
        guard let (a, b) = Identifiers.directMembers(id), a == user || b == user else {
            return done(.failure(ShardService.notMember(id)))
        }
        router.call(ConversationExists(conversationID: id)) { [self] result in
            switch result {
            case .success(true): return done(.success(()))
            case .failure(let error): return done(.failure(error))
            case .success(false): break
            }
            let other = a == user ? b : a
            router.call(UserExists(user: other)) { [self] result in
                switch result {
                case .success(true): break
                case .failure(let error): return done(.failure(error))
                case .success(false): return done(.failure(ChatError(.notFound, "no user \(other)")))
                }
                router.call(OpenDirect(conversationID: id)) { result in done(result.map { _ in () }) }
            }
        }
    }

    /// `device`: the WebSocket's device, whose own delivered cursor moves too (nil: only the
    /// member's, as for HTTP receipts).
    public func receipt(_ session: Session, _ command: ReceiptCommand, device: String? = nil,
                        reply: @escaping (Result<(delivered: Int64, read: Int64), ChatError>) -> Void) {
        router.call(SetCursors(conversationID: command.conversationID, user: session.user,
                               delivered: command.delivered, read: command.read, device: device)) { result in
            reply(result.map { ($0.delivered, $0.read) })
        }
    }

    public func typing(_ session: Session, conversationID: String, reply: @escaping (Result<Void, ChatError>) -> Void) {
        router.call(Typing(conversationID: conversationID, user: session.user)) { result in reply(result.map { _ in () }) }
    }

    /// A page of history (PROTOCOL.md `GET /v1/conversations/{id}/messages`).
    public func history(_ session: Session, conversationID: String, query: HistoryQuery,
                        reply: @escaping (Result<(messages: [StoredMessage], hasMore: Bool), ChatError>) -> Void) {
        guard Identifiers.isValidConversation(conversationID) else {
            return reply(.failure(.badRequest("not a valid conversation id")))
        }
        router.call(History(conversationID: conversationID, reader: session.user, query: query)) { result in
            reply(result.map { ($0.messages, $0.hasMore) })
        }
    }
}
