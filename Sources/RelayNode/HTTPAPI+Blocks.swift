import Chat
import HTTPWire
import JSON

/// Blocking, and the operator's view of a user's moderation log.
extension HTTPAPI {
    /// `PUT /v1/blocks/{user}`: 204, idempotent.
    func block(_ call: Call) { setBlock(call, blocked: true) }

    /// `DELETE /v1/blocks/{user}`: 204, idempotent.
    func unblock(_ call: Call) { setBlock(call, blocked: false) }

    private func setBlock(_ call: Call, blocked: Bool) {
        let respond = call.respond
        authenticated(call) { [self] session in
            let target: String
            do throws(ChatError) { target = try call.parameter("user") } catch { return respond(Reply.error(error)) }
            chat.setBlock(session, target: target, blocked: blocked) { result in
                switch result {
                case .success: respond(Reply.noContent())
                case .failure(let error): respond(Reply.error(error))
                }
            }
        }
    }

    /// `GET /v1/blocks`
    func blockList(_ call: Call) {
        let respond = call.respond
        authenticated(call) { [self] session in
            chat.blocks(session) { result in
                switch result {
                case .success(let users): respond(Reply.json(200, ["blocked": .array(users.map { .string($0) })]))
                case .failure(let error): respond(Reply.error(error))
                }
            }
        }
    }

    /// `GET /v1/admin/users/{user}/moderation?limit=N`: operators only (the cluster secret);
    /// the user's blocked attempts, newest first.
    func adminModerationLog(_ call: Call) {
        guard isOperator(call.request) else { return call.respond(Reply.error(.unauthorized)) }
        let respond = call.respond
        let user: String, limit: Int64
        do {
            user = try call.parameter("user")
            limit = try Fields.querySeq(call.request.query, "limit") ?? Int64(BlockLimits.defaultLogEntries)
            guard limit >= 1 else { throw ChatError.badRequest("`limit` is at least 1") }
        } catch {
            return respond(Reply.error(error as? ChatError ?? .badRequest("bad query")))
        }
        chat.moderationLog(user: user, limit: Int(min(limit, Int64(BlockLimits.maxLogEntries))),
                           retentionMs: node.config.moderationLogRetentionMs) { result in
            switch result {
            case .success(let entries):
                let list: [JSON] = entries.map {
                    .object(["sender": .string($0.sender), "conversation_id": .string($0.conversationID), "seq": .int($0.seq),
                             "ts": .int($0.ts), "preview": .string($0.preview)])
                }
                respond(Reply.json(200, ["user": .string(user), "entries": .array(list)]))
            case .failure(let error): respond(Reply.error(error))
            }
        }
    }
}
