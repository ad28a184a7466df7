import Store

// The front's side of accounts and sessions (the shard operations are in Accounts.swift):
// signup and login hash passwords off the loop, any node checks a token with the user's shard.
extension ChatService {
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
        router.call(UserExists(user: user)) { [self] result in
            if case .success(true) = result { return reply(.failure(ChatError(.conflict, "user id \(user) is taken"))) }
            if case .failure(let error) = result { return reply(.failure(error)) }
            hasher.hash(password) { [self] hash in
                guard let hash else { return reply(.failure(.unavailable("the node is busy hashing passwords", retryAfterMs: 1_000))) }
                let (grant, session) = newGrant(user: user, device: device)
                router.call(CreateUser(user: user, passwordHash: hash, displayName: name, session: session)) { result in
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
        router.call(PasswordHash(user: user)) { [self] result in
            let stored: String?
            switch result {
            case .success(let hash): stored = hash
            case .failure(let error):
                finish(.notChecked)
                return reply(.failure(error))
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
                router.call(CreateSession(session)) { result in reply(result.map { _ in grant }) }
            }
        }
    }

    /// Any node checks a token with the user's shard: a logout anywhere revokes it everywhere.
    public func authenticate(token: String, reply: @escaping (Result<Session, ChatError>) -> Void) {
        guard let user = Tokens.user(of: token) else { return reply(.failure(.unauthorized)) }
        let hash = Tokens.hash(token)
        router.call(FindSession(user: user, tokenHash: hash)) { result in
            switch result {
            case .success(let record?):
                reply(.success(Session(user: record.user, device: record.device, tokenHash: hash, expiresAt: record.expiresAt)))
            case .success(nil): reply(.failure(.unauthorized))
            case .failure(let error): reply(.failure(error))
            }
        }
    }

    public func logout(_ session: Session, reply: @escaping (Result<Void, ChatError>) -> Void) {
        router.call(DeleteSession(user: session.user, tokenHash: session.tokenHash)) { result in
            reply(result.map { _ in () })
        }
    }

    func newGrant(user: String, device: String) -> (Grant, NewSession) {
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

    func checkPassword(_ password: String) -> ChatError? {
        if let error = Self.checkNoNUL(password) { return error }
        let n = password.utf8.count
        if n < ChatSettings.minPasswordBytes { return .badRequest("passwords have at least \(ChatSettings.minPasswordBytes) characters") }
        if n > ChatSettings.maxPasswordBytes { return .badRequest("passwords have at most \(ChatSettings.maxPasswordBytes) bytes") }
        return nil
    }

    func dummy() -> String {
        if let dummyHash { return dummyHash }
        let made = Yescrypt.hash("not a password", salt: random.bytes(16)) ?? "$y$"
        dummyHash = made
        return made
    }
}
