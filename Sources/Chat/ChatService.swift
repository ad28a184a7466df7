import Ring
import Store

/// An authenticated client: who, from which device, with which token.
public struct Session: Sendable, Equatable {
    public var user: String
    public var device: String
    public var tokenHash: [UInt8]
    public var expiresAt: Int64
}

public struct ChatSettings: Sendable {
    /// How long a token works: 30 days, the usual lifetime of a mobile session.
    public var tokenLifetimeMs: Int64 = 30 * 24 * 3600 * 1000
    /// Passwords shorter are refused (PROTOCOL.md). The max keeps one request from buying an
    /// arbitrarily long hash and stays under libxcrypt's 512-byte passphrase limit.
    public static let minPasswordBytes = 8
    public static let maxPasswordBytes = 256
    public static let maxDisplayNameBytes = 64
    /// Login throttling's rules and bounds (`LoginThrottle`).
    public var loginThrottle = LoginThrottle.Settings()
    public init() {}
}

/// The front of a node: turns each client request into shard requests, sends them through
/// the router to the shards' primaries, and combines the replies. It holds no chat state of
/// its own, so it is the same code on one node and in a cluster.
public final class ChatService {
    let router: ShardRouter
    let shardMap: ShardMap
    let hasher: PasswordHasher
    let random: RandomSource
    let clock: () -> Int64
    public let settings: ChatSettings
    /// Checked against when the user does not exist, so a login takes as long either way.
    private var dummyHash: String?
    /// This node's login throttle (per node, in memory: docs/OPERATIONS.md).
    public private(set) var loginThrottle: LoginThrottle

    public init(router: ShardRouter, shardMap: ShardMap, hasher: PasswordHasher, random: RandomSource, settings: ChatSettings = ChatSettings(),
                clock: @escaping () -> Int64) {
        self.router = router
        self.shardMap = shardMap
        self.hasher = hasher
        self.random = random
        self.settings = settings
        self.clock = clock
        loginThrottle = LoginThrottle(settings: settings.loginThrottle)
    }

    public struct Grant: Sendable, Equatable {
        public var user: String
        public var token: String
        public var expiresAt: Int64
    }

    // MARK: Accounts

    public func signup(user: String, password: String, displayName: String?, device: String,
                       reply: @escaping (Result<Grant, ChatError>) -> Void) {
        guard Identifiers.isValidUser(user) else {
            return reply(.failure(.badRequest("user ids are 3 to 32 characters of a-z 0-9 _ . -")))
        }
        if let error = checkPassword(password) { return reply(.failure(error)) }
        let name = displayName ?? user
        guard name.utf8.count <= ChatSettings.maxDisplayNameBytes else {
            return reply(.failure(.badRequest("`display_name` is over \(ChatSettings.maxDisplayNameBytes) bytes")))
        }
        // Refuse a taken id before paying for a hash; the shard still decides the race.
        router.call(.userExists(user: user)) { [self] result in
            if case .success(.flag(true)) = result { return reply(.failure(ChatError(.conflict, "user id \(user) is taken"))) }
            if case .failure(let error) = result { return reply(.failure(error)) }
            hasher.hash(password) { [self] hash in
                guard let hash else { return reply(.failure(.unavailable("the node is busy hashing passwords", retryAfterMs: 1_000))) }
                let (grant, session) = newGrant(user: user, device: device)
                router.call(.createUser(user: user, passwordHash: hash, displayName: name, session: session)) { result in
                    reply(result.map { _ in grant })
                }
            }
        }
    }

    /// `source` is the client's IP (no port), from the TCP connection, never from a header.
    /// The throttle decides before anything is read or hashed, so a throttled guess costs no
    /// yescrypt, and a right password is refused too while its pair, address or account is
    /// throttled.
    public func login(user: String, password: String, device: String, source: String,
                      reply: @escaping (Result<Grant, ChatError>) -> Void) {
        if let error = Self.checkNoNUL(password) { return reply(.failure(error)) }
        // No password under the minimum was ever accepted at signup, so none can be right
        // (and an account stored before the NUL fix with a hash of "" stays closed).
        guard Identifiers.isValidUser(user),
              (ChatSettings.minPasswordBytes...ChatSettings.maxPasswordBytes).contains(password.utf8.count) else {
            return reply(.failure(ChatError(.unauthorized, "wrong user or password")))
        }
        let attempt: LoginThrottle.Attempt
        switch loginThrottle.begin(account: user, source: LoginSource.throttleKey(ip: source), nowMs: clock()) {
        case .allowed(let admitted): attempt = admitted
        case .throttled(let retryAfterMs, _):
            return reply(.failure(ChatError(.rateLimited, "too many failed logins; retry in \((retryAfterMs + 999) / 1000) s",
                                            retryAfterMs: retryAfterMs)))
        }
        let finish: (LoginThrottle.Outcome) -> Void = { [weak self] outcome in
            guard let self else { return }
            loginThrottle.finish(attempt, outcome, nowMs: clock())
        }
        router.call(.passwordHash(user: user)) { [self] result in
            let stored: String?
            switch result {
            case .success(.passwordHash(let hash)): stored = hash
            case .failure(let error):
                finish(.notChecked)
                return reply(.failure(error))
            default:
                finish(.notChecked)
                return reply(.failure(.unavailable("unexpected reply")))
            }
            let against = stored ?? dummy()
            hasher.verify(password, against: against) { [self] ok in
                guard let ok else {
                    finish(.notChecked)
                    return reply(.failure(.unavailable("the node is busy hashing passwords", retryAfterMs: 1_000)))
                }
                guard ok, stored != nil else {
                    finish(.failed)
                    return reply(.failure(ChatError(.unauthorized, "wrong user or password")))
                }
                finish(.succeeded)
                let (grant, session) = newGrant(user: user, device: device)
                router.call(.createSession(session)) { result in reply(result.map { _ in grant }) }
            }
        }
    }

    /// Any node checks a token with the user's shard: a logout anywhere revokes it everywhere.
    public func authenticate(token: String, reply: @escaping (Result<Session, ChatError>) -> Void) {
        guard let user = Tokens.user(of: token) else { return reply(.failure(.unauthorized)) }
        let hash = Tokens.hash(token)
        router.call(.session(user: user, tokenHash: hash)) { result in
            switch result {
            case .success(.session(let record?)):
                reply(.success(Session(user: record.user, device: record.device, tokenHash: hash, expiresAt: record.expiresAt)))
            case .success: reply(.failure(.unauthorized))
            case .failure(let error): reply(.failure(error))
            }
        }
    }

    public func logout(_ session: Session, reply: @escaping (Result<Void, ChatError>) -> Void) {
        router.call(.deleteSession(user: session.user, tokenHash: session.tokenHash)) { result in
            reply(result.map { _ in () })
        }
    }

    private func newGrant(user: String, device: String) -> (Grant, NewSession) {
        let token = Tokens.make(user: user, random: random)
        let expiresAt = clock() + settings.tokenLifetimeMs
        return (Grant(user: user, token: token, expiresAt: expiresAt),
                NewSession(user: user, device: device, tokenHash: Tokens.hash(token), expiresAt: expiresAt))
    }

    /// libcrypt takes the password as a C string, so it would end at the first NUL: refused,
    /// never hashed (docs/PROTOCOL-NOTES.md, "Accounts and tokens").
    static let nulMessage = "passwords cannot contain the NUL character (U+0000)"

    static func checkNoNUL(_ password: String) -> ChatError? {
        password.utf8.contains(0) ? .badRequest(nulMessage) : nil
    }

    private func checkPassword(_ password: String) -> ChatError? {
        if let error = Self.checkNoNUL(password) { return error }
        let n = password.utf8.count
        if n < ChatSettings.minPasswordBytes { return .badRequest("passwords have at least \(ChatSettings.minPasswordBytes) characters") }
        if n > ChatSettings.maxPasswordBytes { return .badRequest("passwords have at most \(ChatSettings.maxPasswordBytes) bytes") }
        return nil
    }

    private func dummy() -> String {
        if let dummyHash { return dummyHash }
        let made = Yescrypt.hash("not a password", salt: random.bytes(16)) ?? "$y$"
        dummyHash = made
        return made
    }

    // MARK: Messages

    public func send(_ session: Session, _ command: SendCommand, origin: ConnectionRef?, reply: @escaping (Result<Ack, ChatError>) -> Void) {
        if !command.attachments.isEmpty {
            return reply(.failure(ChatError(.notFound, "unknown asset \(command.attachments[0])")))
        }
        if command.tip != nil {
            return reply(.failure(.badRequest("tips are not enabled on this cluster (no billing service is configured)")))
        }
        let conversationID: String
        switch command.target {
        case .user(let to): conversationID = Identifiers.directConversation(session.user, to)
        case .conversation(let id): conversationID = id
        }
        let message = NewMessage(conversationID: conversationID, sender: session.user, clientID: command.clientID,
                                 kind: command.kind, body: command.body, attachments: command.attachments,
                                 tip: command.tip, origin: origin)
        // A direct chat this node has not seen open is opened first, and sends to it that
        // arrive meanwhile wait behind the opening one, so a burst of first messages is
        // stored in the order it was sent.
        if Identifiers.directMembers(conversationID) != nil, !openDirects.contains(conversationID) {
            if opening[conversationID] != nil {
                opening[conversationID]!.append { [self] in send(session, command, origin: origin, reply: reply) }
                return
            }
            opening[conversationID] = []
            openDirect(conversationID, for: session.user) { [self] opened in
                let waiting = opening.removeValue(forKey: conversationID) ?? []
                switch opened {
                case .failure(let error): reply(.failure(error))
                case .success:
                    rememberOpen(conversationID)
                    router.call(.send(message)) { result in reply(Self.ack(result)) }
                }
                waiting.forEach { $0() }
            }
            return
        }
        router.call(.send(message)) { [self] result in
            if case .failure(let error) = result, error.code == .notFound, Identifiers.directMembers(conversationID) != nil {
                // Remembered as open but gone (a cache from before a restore): open it again, once.
                openDirects.remove(conversationID)
                return openDirect(conversationID, for: session.user) { [self] opened in
                    if case .failure(let error) = opened { return reply(.failure(error)) }
                    router.call(.send(message)) { result in reply(Self.ack(result)) }
                }
            }
            if case .failure(let error) = result, error.code == .notFound {
                return reply(.failure(ShardService.notMember(conversationID)))
            }
            reply(Self.ack(result))
        }
    }

    /// Direct chats this node knows exist. Bounded: when full it is forgotten, which only
    /// costs one more (idempotent) open per chat.
    private var openDirects: Set<String> = []
    private var opening: [String: [() -> Void]] = [:]
    static let maxRememberedOpenChats = 200_000

    private func rememberOpen(_ id: String) {
        if openDirects.count >= Self.maxRememberedOpenChats { openDirects.removeAll(keepingCapacity: true) }
        openDirects.insert(id)
    }

    private static func ack(_ result: Result<ShardReply, ChatError>) -> Result<Ack, ChatError> {
        switch result {
        case .success(.ack(let ack)): .success(ack)
        case .success: .failure(.unavailable("unexpected reply"))
        case .failure(let error): .failure(error)
        }
    }

    /// The first message of a direct chat makes it: the other user must exist; both users'
    /// conversation indexes list it before the message is acked. A chat that already exists
    /// (the usual case on a node that restarted or that a client failed over to) needs only
    /// its own shard.
    private func openDirect(_ id: String, for user: String, done: @escaping (Result<Void, ChatError>) -> Void) {
        guard let (a, b) = Identifiers.directMembers(id), a == user || b == user else {
            return done(.failure(ShardService.notMember(id)))
        }
        router.call(.conversationExists(conversationID: id)) { [self] result in
            switch result {
            case .success(.flag(true)): return done(.success(()))
            case .failure(let error): return done(.failure(error))
            default: break
            }
            let other = a == user ? b : a
            router.call(.userExists(user: other)) { [self] result in
                switch result {
                case .success(.flag(true)): break
                case .failure(let error): return done(.failure(error))
                default: return done(.failure(ChatError(.notFound, "no user \(other)")))
                }
                let requests: [ShardRequest] = [.openDirect(conversationID: id)] +
                    Set([a, b]).sorted().map { ShardRequest.addToIndex(user: $0, conversationID: id) }
                router.callAll(requests) { results in
                    if let failure = results.first(where: { if case .failure = $0 { true } else { false } }),
                       case .failure(let error) = failure {
                        return done(.failure(error))
                    }
                    done(.success(()))
                }
            }
        }
    }

    public func receipt(_ session: Session, _ command: ReceiptCommand,
                        reply: @escaping (Result<(delivered: Int64, read: Int64), ChatError>) -> Void) {
        router.call(.setCursors(conversationID: command.conversationID, user: session.user,
                                delivered: command.delivered, read: command.read)) { result in
            switch result {
            case .success(.cursors(let delivered, let read)): reply(.success((delivered, read)))
            case .success: reply(.failure(.unavailable("unexpected reply")))
            case .failure(let error): reply(.failure(error))
            }
        }
    }

    public func typing(_ session: Session, conversationID: String, reply: @escaping (Result<Void, ChatError>) -> Void) {
        router.call(.typing(conversationID: conversationID, user: session.user)) { result in reply(result.map { _ in () }) }
    }

    /// A page of history (PROTOCOL.md `GET /v1/conversations/{id}/messages`).
    public func history(_ session: Session, conversationID: String, query: HistoryQuery,
                        reply: @escaping (Result<(messages: [StoredMessage], hasMore: Bool), ChatError>) -> Void) {
        guard Identifiers.isValidConversation(conversationID) else {
            return reply(.failure(.badRequest("not a valid conversation id")))
        }
        router.call(.messages(conversationID: conversationID, reader: session.user, query: query)) { result in
            switch result {
            case .success(.page(let messages, let hasMore)): reply(.success((messages, hasMore)))
            case .success: reply(.failure(.unavailable("unexpected reply")))
            case .failure(let error): reply(.failure(error))
            }
        }
    }

    /// The user's conversations with cursors and unread counts, newest activity first: one
    /// read of the user's index, then one request per shard that holds any of them.
    public func conversations(_ session: Session, reply: @escaping (Result<[ConversationSummary], ChatError>) -> Void) {
        router.call(.conversationIndex(user: session.user)) { [self] result in
            let ids: [String]
            switch result {
            case .success(.index(let list)): ids = list
            case .success: return reply(.failure(.unavailable("unexpected reply")))
            case .failure(let error): return reply(.failure(error))
            }
            var byShard: [Int: [String]] = [:]
            for id in ids { byShard[shardMap.shard(forConversation: id), default: []].append(id) }
            let requests = byShard.keys.sorted().map { ShardRequest.summaries(user: session.user, conversationIDs: byShard[$0]!) }
            router.callAll(requests) { results in
                var all: [ConversationSummary] = []
                for result in results {
                    switch result {
                    case .success(.summaries(let list)): all += list
                    case .success: return reply(.failure(.unavailable("unexpected reply")))
                    case .failure(let error): return reply(.failure(error))
                    }
                }
                all.sort { ($0.lastTs, $1.conversationID) > ($1.lastTs, $0.conversationID) }
                reply(.success(all))
            }
        }
    }
}
