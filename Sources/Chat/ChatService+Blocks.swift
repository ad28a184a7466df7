import Store

// The front's side of blocking and the moderation log (the shard operations are in
// Features/Blocks.swift).
extension ChatService {
    /// `PUT`/`DELETE /v1/blocks/{user}`: 404 for an unknown user, 400 for oneself; idempotent.
    public func setBlock(_ session: Session, target: String, blocked: Bool, reply: @escaping (Result<Void, ChatError>) -> Void) {
        guard Identifiers.isValidUser(target) else { return reply(.failure(.badRequest("\(target) is not a valid user id"))) }
        guard target != session.user else { return reply(.failure(.badRequest("you cannot block yourself"))) }
        router.call(UserExists(user: target)) { [self] result in
            switch result {
            case .failure(let error): return reply(.failure(error))
            case .success(false): return reply(.failure(ChatError(.notFound, "no user \(target)")))
            case .success(true): break
            }
            router.call(SetBlock(user: session.user, target: target, blocked: blocked)) { reply($0.map { _ in () }) }
        }
    }

    /// `GET /v1/blocks`
    public func blocks(_ session: Session, reply: @escaping (Result<[String], ChatError>) -> Void) {
        router.call(BlockList(user: session.user), reply: reply)
    }

    /// The operator's view of a user's moderation log: entries newer than `retentionMs`,
    /// newest first.
    public func moderationLog(user: String, limit: Int, retentionMs: Int64,
                              reply: @escaping (Result<[ModerationEntry], ChatError>) -> Void) {
        guard Identifiers.isValidUser(user) else { return reply(.failure(.badRequest("\(user) is not a valid user id"))) }
        router.call(ModerationLog(user: user, since: clock() - retentionMs, limit: limit), reply: reply)
    }
}
