import Hashing
import Store

// The front's side of groups and invite links (the rules are in Features/Groups.swift and
// Features/Invites.swift): checks what needs no shard, makes ids and codes, checks that named
// users exist, then calls the group's shard.
extension ChatService {
    public struct NewGroup: Sendable {
        public var title: String
        public var members: [String]
        public var historyVisible: Bool
        public init(title: String, members: [String], historyVisible: Bool) {
            self.title = title
            self.members = members
            self.historyVisible = historyVisible
        }
    }

    /// Makes a group; answers its id once every member's conversation list shows it.
    public func createGroup(_ session: Session, _ group: NewGroup, reply: @escaping (Result<String, ChatError>) -> Void) {
        if let error = Self.checkTitle(group.title) { return reply(.failure(error)) }
        let others = Array(Set(group.members).subtracting([session.user])).sorted()
        guard others.count < settings.maxGroupMembers else {
            return reply(.failure(ChatError(.conflict, "a group may have at most \(settings.maxGroupMembers) members")))
        }
        guard others.count <= ChatSettings.maxMembersPerCreate else {
            return reply(.failure(.badRequest("at most \(ChatSettings.maxMembersPerCreate) other members when creating a group; "
                + "add more afterwards")))
        }
        if let bad = others.first(where: { !Identifiers.isValidUser($0) }) {
            return reply(.failure(.badRequest("not a valid user id: \(bad)")))
        }
        let id = "grp:" + Hex.encode(random.bytes(12))
        usersExist(others) { [self] missing in
            if let missing { return reply(.failure(missing)) }
            router.call(CreateGroup(conversationID: id, creator: session.user, title: group.title, members: others,
                                    historyVisible: group.historyVisible)) { result in reply(result.map { _ in id }) }
        }
    }

    public func group(_ session: Session, id: String, reply: @escaping (Result<GroupInfo, ChatError>) -> Void) {
        guard Self.isGroupID(id) else { return reply(.failure(ChatError(.notFound, "no group \(id)"))) }
        router.call(ReadGroup(conversationID: id, reader: session.user), reply: reply)
    }

    /// `requestID` (from the client's `Idempotency-Key`): a retried change applies once, also
    /// when an earlier attempt arrives late. Scoped to the caller.
    public func addMember(_ session: Session, group id: String, user: String, requestID: String? = nil,
                          reply: @escaping (Result<Void, ChatError>) -> Void) {
        guard Self.isGroupID(id) else { return reply(.failure(ChatError(.notFound, "no group \(id)"))) }
        guard Identifiers.isValidUser(user) else { return reply(.failure(.badRequest("not a valid user id: \(user)"))) }
        usersExist([user]) { [self] missing in
            if let missing { return reply(.failure(missing)) }
            router.call(AddMember(conversationID: id, by: session.user, user: user, limit: settings.maxGroupMembers,
                                  requestID: Self.scoped(requestID, session))) { result in
                reply(result.map { _ in () })
            }
        }
    }

    /// An admin removes `user`, or the user leaves (`user` is the caller).
    public func removeMember(_ session: Session, group id: String, user: String, requestID: String? = nil,
                             reply: @escaping (Result<Void, ChatError>) -> Void) {
        guard Self.isGroupID(id) else { return reply(.failure(ChatError(.notFound, "no group \(id)"))) }
        guard Identifiers.isValidUser(user) else { return reply(.failure(ChatError(.notFound, "no member \(user)"))) }
        router.call(RemoveMember(conversationID: id, by: session.user, user: user, requestID: Self.scoped(requestID, session))) {
            reply($0.map { _ in () })
        }
    }

    public func setRole(_ session: Session, group id: String, user: String, role: String, requestID: String? = nil,
                        reply: @escaping (Result<Void, ChatError>) -> Void) {
        guard let role = MemberRole(rawValue: role) else { return reply(.failure(.badRequest("`role` is `admin` or `member`"))) }
        guard Self.isGroupID(id) else { return reply(.failure(ChatError(.notFound, "no group \(id)"))) }
        guard Identifiers.isValidUser(user) else { return reply(.failure(ChatError(.notFound, "no member \(user)"))) }
        router.call(SetRole(conversationID: id, by: session.user, user: user, role: role, requestID: Self.scoped(requestID, session))) {
            reply($0.map { _ in () })
        }
    }

    public func updateGroup(_ session: Session, group id: String, title: String?, historyVisible: Bool?, requestID: String? = nil,
                            reply: @escaping (Result<GroupInfo, ChatError>) -> Void) {
        if let title, let error = Self.checkTitle(title) { return reply(.failure(error)) }
        guard Self.isGroupID(id) else { return reply(.failure(ChatError(.notFound, "no group \(id)"))) }
        router.call(UpdateGroup(conversationID: id, by: session.user, title: title, historyVisible: historyVisible,
                                requestID: Self.scoped(requestID, session)), reply: reply)
    }

    // MARK: Invite links

    /// Invites allow at most this many uses and expire within a year; none of either when absent.
    public static let maxInviteUses: Int64 = 1_000_000
    public static let maxInviteSeconds: Int64 = 365 * 24 * 3600

    public func createInvite(_ session: Session, group id: String, maxUses: Int64?, expiresInS: Int64?,
                             reply: @escaping (Result<Invite, ChatError>) -> Void) {
        if let maxUses, !(1...Self.maxInviteUses).contains(maxUses) {
            return reply(.failure(.badRequest("`max_uses` is 1 to \(Self.maxInviteUses)")))
        }
        if let expiresInS, !(1...Self.maxInviteSeconds).contains(expiresInS) {
            return reply(.failure(.badRequest("`expires_in_s` is 1 to \(Self.maxInviteSeconds)")))
        }
        guard Self.isGroupID(id) else { return reply(.failure(ChatError(.notFound, "no group \(id)"))) }
        let code = InviteCodes.make(conversationID: id, secret: random.bytes(16))
        router.call(CreateInvite(conversationID: id, by: session.user, inviteCode: code, maxUses: maxUses, expiresInS: expiresInS),
                    reply: reply)
    }

    public func invites(_ session: Session, group id: String, reply: @escaping (Result<[Invite], ChatError>) -> Void) {
        guard Self.isGroupID(id) else { return reply(.failure(ChatError(.notFound, "no group \(id)"))) }
        router.call(ListInvites(conversationID: id, by: session.user), reply: reply)
    }

    public func revokeInvite(_ session: Session, code: String, reply: @escaping (Result<Void, ChatError>) -> Void) {
        guard InviteCodes.conversation(of: code) != nil else { return reply(.failure(ChatError(.notFound, "no invite \(code)"))) }
        router.call(RevokeInvite(inviteCode: code, by: session.user)) { reply($0.map { _ in () }) }
    }

    public func acceptInvite(_ session: Session, code: String, requestID: String? = nil, reply: @escaping (Result<String, ChatError>) -> Void) {
        guard InviteCodes.conversation(of: code) != nil else { return reply(.failure(ChatError(.notFound, "no invite \(code)"))) }
        router.call(AcceptInvite(inviteCode: code, user: session.user, limit: settings.maxGroupMembers,
                                 requestID: Self.scoped(requestID, session)), reply: reply)
    }

    // MARK: Checks

    static func scoped(_ requestID: String?, _ session: Session) -> String? { requestID.map { session.user + ":" + $0 } }

    static func isGroupID(_ id: String) -> Bool { id.hasPrefix("grp:") && Identifiers.isValidConversation(id) }

    static func checkTitle(_ title: String) -> ChatError? {
        if title.isEmpty { return .badRequest("a group needs a `title`") }
        if title.utf8.count > ChatSettings.maxGroupTitleBytes {
            return .badRequest("`title` is at most \(ChatSettings.maxGroupTitleBytes) bytes")
        }
        return nil
    }

    /// Calls `done` with nil when every user exists, else with the error for the first missing
    /// one (`not_found`) or the first failure.
    func usersExist(_ users: [String], done: @escaping (ChatError?) -> Void) {
        router.callAll(users.map { UserExists(user: $0) }) { results in
            for (user, result) in zip(users, results) {
                switch result {
                case .success(true): continue
                case .success(false): return done(ChatError(.notFound, "no user \(user)"))
                case .failure(let error): return done(error)
                }
            }
            done(nil)
        }
    }
}
