import Store

// The front's side of creator lists and mass messages (the shard operations and the job are
// in Features/Lists.swift). Members are checked to be existing users before they are added:
// one request per user shard that holds any of them.
extension ChatService {
    /// Unknown users named in a refusal, at most this many.
    static let unknownUsersShown = 10

    /// `POST /v1/lists`
    public func createList(_ session: Session, name: String, members: [String], reply: @escaping (Result<String, ChatError>) -> Void) {
        checkUsersExist(members) { [self] checked in
            if case .failure(let error) = checked { return reply(.failure(error)) }
            router.call(CreateList(owner: session.user, name: name, members: members), reply: reply)
        }
    }

    /// `PUT /v1/lists/{id}/members/{user}` and `POST /v1/lists/{id}/members`
    public func addListMembers(_ session: Session, listID: String, members: [String], reply: @escaping (Result<Void, ChatError>) -> Void) {
        guard ListFields.isValidListID(listID) else { return reply(.failure(ListErrors.notFound(listID))) }
        checkUsersExist(members) { [self] checked in
            if case .failure(let error) = checked { return reply(.failure(error)) }
            router.call(AddListMembers(owner: session.user, listID: listID, members: members)) { reply($0.map { _ in () }) }
        }
    }

    /// `DELETE /v1/lists/{id}/members/{user}`
    public func removeListMember(_ session: Session, listID: String, member: String, reply: @escaping (Result<Void, ChatError>) -> Void) {
        guard ListFields.isValidListID(listID) else { return reply(.failure(ListErrors.notFound(listID))) }
        router.call(RemoveListMember(owner: session.user, listID: listID, member: member)) { reply($0.map { _ in () }) }
    }

    /// `GET /v1/lists`
    public func lists(_ session: Session, reply: @escaping (Result<[ListSummary], ChatError>) -> Void) {
        router.call(ListsOf(owner: session.user), reply: reply)
    }

    /// `GET /v1/lists/{id}`
    public func list(_ session: Session, listID: String, reply: @escaping (Result<ListDetail.Detail, ChatError>) -> Void) {
        guard ListFields.isValidListID(listID) else { return reply(.failure(ListErrors.notFound(listID))) }
        router.call(ListDetail(owner: session.user, listID: listID), reply: reply)
    }

    /// `POST /v1/lists/{id}/messages`: answers the recipient count once the message and its
    /// job are recorded (and replicated).
    public func sendToList(_ session: Session, listID: String, _ command: ListMessageCommand,
                           reply: @escaping (Result<Int64, ChatError>) -> Void) {
        guard ListFields.isValidListID(listID) else { return reply(.failure(ListErrors.notFound(listID))) }
        // Like a send: only assets the owner can read (404 otherwise, as if absent); each
        // recipient's copy then makes them readable in that direct chat.
        checkAttachments(command.attachments[...], user: session.user) { [self] checked in
            if case .failure(let error) = checked { return reply(.failure(error)) }
            router.call(CreateListMessage(owner: session.user, listID: listID, clientID: command.clientID, kind: command.kind,
                                          body: command.body, attachments: command.attachments), reply: reply)
        }
    }

    /// A mass message's progress; `owner` is the session's user, or the one an operator names.
    public func listMessageProgress(owner: String, listID: String, clientID: String,
                                    reply: @escaping (Result<ListMessageStatus, ChatError>) -> Void) {
        guard Identifiers.isValidUser(owner), ListFields.isValidListID(listID) else {
            return reply(.failure(ListErrors.notFound(listID)))
        }
        router.call(ListMessageProgress(owner: owner, listID: listID, clientID: clientID), reply: reply)
    }

    /// Succeeds when every user exists; else 404 naming (some of) the unknown ones.
    func checkUsersExist(_ users: [String], done: @escaping (Result<Void, ChatError>) -> Void) {
        var byShard: [Int: [String]] = [:]
        for user in users { byShard[shardMap.shard(for: .user(user)), default: []].append(user) }
        let requests = byShard.keys.sorted().map { UsersExist(users: byShard[$0]!) }
        router.callAll(requests) { results in
            var missing: [String] = []
            for result in results {
                switch result {
                case .success(let list): missing += list
                case .failure(let error): return done(.failure(error))
                }
            }
            guard missing.isEmpty else {
                missing.sort()
                let shown = missing.prefix(Self.unknownUsersShown).joined(separator: ", ")
                let more = missing.count > Self.unknownUsersShown ? " and \(missing.count - Self.unknownUsersShown) more" : ""
                return done(.failure(ChatError(.notFound, "unknown users: \(shown)\(more); nothing was changed")))
            }
            done(.success(()))
        }
    }
}
