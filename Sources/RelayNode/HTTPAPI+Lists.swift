import Chat
import HTTPWire
import JSON

/// Creator lists and mass messages (owner only: another user's list answers 404), and the
/// operator's view of a mass message's progress.
extension HTTPAPI {
    /// `POST /v1/lists` `{name, members}`: 201 `{list_id}`.
    func createList(_ call: Call) {
        let respond = call.respond
        authenticated(call) { [self] session in
            body(call) { [self] o throws(ChatError) in
                let name = try ListFields.name(o)
                let members = try ListFields.members(o, owner: session.user, required: true)
                chat.createList(session, name: name, members: members) { result in
                    switch result {
                    case .success(let id): respond(Reply.json(201, ["list_id": .string(id)]))
                    case .failure(let error): respond(Reply.error(error))
                    }
                }
            }
        }
    }

    /// `GET /v1/lists`
    func listLists(_ call: Call) {
        let respond = call.respond
        authenticated(call) { [self] session in
            chat.lists(session) { result in
                switch result {
                case .success(let lists):
                    respond(Reply.json(200, ["lists": .array(lists.map {
                        .object(["list_id": .string($0.listID), "name": .string($0.name), "size": .int($0.size)])
                    })]))
                case .failure(let error): respond(Reply.error(error))
                }
            }
        }
    }

    /// `GET /v1/lists/{id}`
    func listDetail(_ call: Call) {
        let respond = call.respond
        authenticated(call) { [self] session in
            let id: String
            do throws(ChatError) { id = try call.parameter("id") } catch { return respond(Reply.error(error)) }
            chat.list(session, listID: id) { result in
                switch result {
                case .success(let detail):
                    respond(Reply.json(200, ["list_id": .string(id), "name": .string(detail.name),
                                             "members": .array(detail.members.map { .string($0) })]))
                case .failure(let error): respond(Reply.error(error))
                }
            }
        }
    }

    /// `POST /v1/lists/{id}/members` `{members}`: adds many at once (docs/PROTOCOL-NOTES.md); 204.
    func addListMembers(_ call: Call) {
        let respond = call.respond
        authenticated(call) { [self] session in
            body(call) { [self] o throws(ChatError) in
                let id = try call.parameter("id")
                let members = try ListFields.members(o, owner: session.user, required: true)
                chat.addListMembers(session, listID: id, members: members) { respond(Self.noContent($0)) }
            }
        }
    }

    /// `PUT /v1/lists/{id}/members/{user}`: 204, idempotent.
    func addListMember(_ call: Call) {
        let respond = call.respond
        authenticated(call) { [self] session in
            let id: String, user: String
            do throws(ChatError) {
                id = try call.parameter("id")
                user = try call.parameter("user")
                try ListFields.member(user, owner: session.user)
            } catch { return respond(Reply.error(error)) }
            chat.addListMembers(session, listID: id, members: [user]) { respond(Self.noContent($0)) }
        }
    }

    /// `DELETE /v1/lists/{id}/members/{user}`: 204, idempotent.
    func removeListMember(_ call: Call) {
        let respond = call.respond
        authenticated(call) { [self] session in
            let id: String, user: String
            do throws(ChatError) {
                id = try call.parameter("id")
                user = try call.parameter("user")
                guard Identifiers.isValidUser(user) else { throw ChatError.badRequest("\(user) is not a valid user id") }
            } catch { return respond(Reply.error(error)) }
            chat.removeListMember(session, listID: id, member: user) { respond(Self.noContent($0)) }
        }
    }

    /// `POST /v1/lists/{id}/messages` `{client_id, kind, body, attachments?}`: 202
    /// `{list_id, recipients}` once the message and its job are recorded.
    func sendToList(_ call: Call) {
        let respond = call.respond
        authenticated(call) { [self] session in
            body(call) { [self] o throws(ChatError) in
                let id = try call.parameter("id")
                let command = try ListMessageCommand(o)
                chat.sendToList(session, listID: id, command) { result in
                    switch result {
                    case .success(let recipients): respond(Reply.json(202, ["list_id": .string(id), "recipients": .int(recipients)]))
                    case .failure(let error): respond(Reply.error(error))
                    }
                }
            }
        }
    }

    /// `GET /v1/lists/{id}/messages/{client_id}`
    func listMessageProgress(_ call: Call) {
        let respond = call.respond
        authenticated(call) { [self] session in
            progress(call, owner: session.user, listParameter: "id", respond: respond)
        }
    }

    /// `GET /v1/admin/users/{owner}/lists/{list_id}/messages/{client_id}`: operators only.
    func adminListMessageProgress(_ call: Call) {
        guard isOperator(call.request) else { return call.respond(Reply.error(.unauthorized)) }
        let owner: String
        do throws(ChatError) { owner = try call.parameter("owner") } catch { return call.respond(Reply.error(error)) }
        progress(call, owner: owner, listParameter: "list_id", respond: call.respond)
    }

    private func progress(_ call: Call, owner: String, listParameter: String, respond: @escaping (HTTPResponse) -> Void) {
        let id: String, clientID: String
        do throws(ChatError) {
            id = try call.parameter(listParameter)
            clientID = try call.parameter("client_id")
        } catch { return respond(Reply.error(error)) }
        chat.listMessageProgress(owner: owner, listID: id, clientID: clientID) { result in
            switch result {
            case .success(let status):
                respond(Reply.json(200, ["list_id": .string(id), "client_id": .string(clientID), "recipients": .int(status.recipients),
                                         "done": .int(status.done), "pending": .int(status.pending)]))
            case .failure(let error): respond(Reply.error(error))
            }
        }
    }

    static func noContent(_ result: Result<Void, ChatError>) -> HTTPResponse {
        switch result {
        case .success: return Reply.noContent()
        case .failure(let error): return Reply.error(error)
        }
    }
}
