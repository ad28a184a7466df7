import Chat
import HTTPWire
import JSON
import Store

/// Groups and invite links (PROTOCOL.md "HTTP"; the rules as built: docs/GROUPS.md).
extension HTTPAPI {
    /// `POST /v1/groups` {title, members?, history_visible?} -> 201 {conversation_id}
    func createGroup(_ call: Call) {
        let respond = call.respond
        authenticated(call) { [self] session in
            body(call) { [self] o throws(ChatError) in
                let group = ChatService.NewGroup(
                    title: try Fields.string(o, "title", maxBytes: ChatSettings.maxGroupTitleBytes),
                    members: try Fields.optionalStrings(o, "members", maxCount: 10 * ChatSettings.maxMembersPerCreate) ?? [],
                    historyVisible: try Fields.optionalBool(o, "history_visible") ?? true)
                chat.createGroup(session, group) { result in
                    switch result {
                    case .success(let id): respond(Reply.json(201, ["conversation_id": .string(id)]))
                    case .failure(let error): respond(Reply.error(error))
                    }
                }
            }
        }
    }

    /// `GET /v1/groups/{id}`
    func readGroup(_ call: Call) {
        let respond = call.respond
        authenticated(call) { [self] session in
            guard let id = parameter(call, "id") else { return }
            chat.group(session, id: id) { result in respond(Self.groupReply(result)) }
        }
    }

    /// `PATCH /v1/groups/{id}` {title?, history_visible?} -> 200 the group
    func updateGroup(_ call: Call) {
        let respond = call.respond
        authenticated(call) { [self] session in
            body(call) { [self] o throws(ChatError) in
                let id = try call.parameter("id")
                let title = try Fields.optionalString(o, "title", maxBytes: ChatSettings.maxGroupTitleBytes)
                let historyVisible = try Fields.optionalBool(o, "history_visible")
                guard title != nil || historyVisible != nil else { throw .badRequest("give `title` or `history_visible`") }
                chat.updateGroup(session, group: id, title: title, historyVisible: historyVisible, requestID: try requestID(call)) { result in
                    respond(Self.groupReply(result))
                }
            }
        }
    }

    /// `POST /v1/groups/{id}/members` {user} -> 204
    func addMember(_ call: Call) {
        let respond = call.respond
        authenticated(call) { [self] session in
            body(call) { [self] o throws(ChatError) in
                let id = try call.parameter("id")
                let user = try Fields.string(o, "user", maxBytes: 64)
                chat.addMember(session, group: id, user: user, requestID: try requestID(call)) { respond(Self.noContent($0)) }
            }
        }
    }

    /// `DELETE /v1/groups/{id}/members/{user}` -> 204 (an admin removing, or the user leaving)
    func removeMember(_ call: Call) {
        let respond = call.respond
        authenticated(call) { [self] session in
            guard let id = parameter(call, "id"), let user = parameter(call, "user"), let key = idempotencyKey(call) else { return }
            chat.removeMember(session, group: id, user: user, requestID: key) { respond(Self.noContent($0)) }
        }
    }

    /// `PUT /v1/groups/{id}/members/{user}/role` {role} -> 204
    func setRole(_ call: Call) {
        let respond = call.respond
        authenticated(call) { [self] session in
            body(call) { [self] o throws(ChatError) in
                let id = try call.parameter("id"), user = try call.parameter("user")
                let role = try Fields.string(o, "role", maxBytes: 16)
                chat.setRole(session, group: id, user: user, role: role, requestID: try requestID(call)) { respond(Self.noContent($0)) }
            }
        }
    }

    /// `POST /v1/groups/{id}/invites` {max_uses?, expires_in_s?} -> 201 {code, ...}
    func createInvite(_ call: Call) {
        let respond = call.respond
        authenticated(call) { [self] session in
            // An empty body means no limits.
            let o: JSONObject
            if call.request.body.isEmpty {
                o = [:]
            } else {
                guard let parsed = (try? JSON.parse(call.request.body))?.objectValue else {
                    return respond(Reply.error(.badRequest("the body is a JSON object")))
                }
                o = parsed
            }
            do {
                let id = try call.parameter("id")
                let maxUses = try Fields.optionalPositive(o, "max_uses")
                let expiresInS = try Fields.optionalPositive(o, "expires_in_s")
                chat.createInvite(session, group: id, maxUses: maxUses, expiresInS: expiresInS) { result in
                    switch result {
                    case .success(let invite): respond(Reply.json(201, .object(Self.inviteJSON(invite))))
                    case .failure(let error): respond(Reply.error(error))
                    }
                }
            } catch {
                respond(Reply.error(error as? ChatError ?? .badRequest("bad request")))
            }
        }
    }

    /// `GET /v1/groups/{id}/invites` -> {invites:[{code, max_uses, uses, expires_at}]}
    func listInvites(_ call: Call) {
        let respond = call.respond
        authenticated(call) { [self] session in
            guard let id = parameter(call, "id") else { return }
            chat.invites(session, group: id) { result in
                switch result {
                case .success(let list): respond(Reply.json(200, ["invites": .array(list.map { .object(Self.inviteJSON($0)) })]))
                case .failure(let error): respond(Reply.error(error))
                }
            }
        }
    }

    /// `DELETE /v1/invites/{code}` -> 204
    func revokeInvite(_ call: Call) {
        let respond = call.respond
        authenticated(call) { [self] session in
            guard let code = parameter(call, "code") else { return }
            chat.revokeInvite(session, code: code) { respond(Self.noContent($0)) }
        }
    }

    /// `POST /v1/invites/{code}/accept` -> 200 {conversation_id}
    func acceptInvite(_ call: Call) {
        let respond = call.respond
        authenticated(call) { [self] session in
            guard let code = parameter(call, "code"), let key = idempotencyKey(call) else { return }
            chat.acceptInvite(session, code: code, requestID: key) { result in
                switch result {
                case .success(let id): respond(Reply.json(200, ["conversation_id": .string(id)]))
                case .failure(let error): respond(Reply.error(error))
                }
            }
        }
    }

    // MARK: Shapes

    static let maxIdempotencyKeyBytes = 128

    /// The `Idempotency-Key` header, if sent: printable ASCII, at most 128 bytes.
    private func requestID(_ call: Call) throws(ChatError) -> String? {
        guard let key = call.request.headers["Idempotency-Key"] else { return nil }
        guard !key.isEmpty, key.utf8.count <= Self.maxIdempotencyKeyBytes, key.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) else {
            throw .badRequest("`Idempotency-Key` is 1 to \(Self.maxIdempotencyKeyBytes) printable ASCII characters")
        }
        return key
    }

    /// `requestID` for a handler without a body: answers the 400 itself. `.some(nil)`: no key.
    private func idempotencyKey(_ call: Call) -> String?? {
        do { return .some(try requestID(call)) } catch {
            call.respond(Reply.error(error))
            return nil
        }
    }

    private func parameter(_ call: Call, _ name: String) -> String? {
        do { return try call.parameter(name) } catch {
            call.respond(Reply.error(error))
            return nil
        }
    }

    static func groupReply(_ result: Result<GroupInfo, ChatError>) -> HTTPResponse {
        switch result {
        case .success(let g): Reply.json(200, .object(groupJSON(g)))
        case .failure(let error): Reply.error(error)
        }
    }

    static func groupJSON(_ g: GroupInfo) -> JSONObject {
        var o = JSONObject()
        o["conversation_id"] = .string(g.conversationID)
        o["title"] = .string(g.title)
        o["history_visible"] = .bool(g.historyVisible)
        o["members"] = .array(g.members.map { m in
            .object(["user": .string(m.user), "role": .string(m.role), "joined_seq": .int(m.joinedSeq),
                     "delivered": .int(m.delivered), "read": .int(m.read)])
        })
        return o
    }

    static func inviteJSON(_ i: Invite) -> JSONObject {
        ["code": .string(i.code), "conversation_id": .string(i.conversationID), "max_uses": i.maxUses.map { .int($0) } ?? .null,
         "uses": .int(i.uses), "expires_at": i.expiresAt.map { .int($0) } ?? .null]
    }
}

extension Fields {
    public static func optionalBool(_ o: JSONObject, _ name: String) throws(ChatError) -> Bool? {
        switch o[name] {
        case nil, .some(.null): return nil
        case .some(.bool(let value)): return value
        default: throw .badRequest("`\(name)` must be true or false")
        }
    }

    /// A positive integer when present.
    public static func optionalPositive(_ o: JSONObject, _ name: String) throws(ChatError) -> Int64? {
        switch o[name] {
        case nil, .some(.null): return nil
        case .some(let value):
            guard let n = value.intValue, n >= 1 else { throw .badRequest("`\(name)` must be a positive integer") }
            return n
        }
    }

    /// An array of strings when present, at most `maxCount` of them.
    public static func optionalStrings(_ o: JSONObject, _ name: String, maxCount: Int) throws(ChatError) -> [String]? {
        switch o[name] {
        case nil, .some(.null): return nil
        case .some(.array(let items)):
            guard items.count <= maxCount else { throw .badRequest("`\(name)` has over \(maxCount) entries") }
            var out: [String] = []
            out.reserveCapacity(items.count)
            for item in items {
                guard case .string(let s) = item else { throw .badRequest("`\(name)` must be an array of strings") }
                out.append(s)
            }
            return out
        default: throw .badRequest("`\(name)` must be an array of strings")
        }
    }
}
