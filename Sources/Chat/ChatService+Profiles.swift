import JSON

// The front's side of profiles and presence reads (the shard operations are in
// Features/Profiles.swift and Presence.swift): read the profile on its user's shard, find out
// whether the viewer is a contact when the answer depends on it, and show what the rules allow.
extension ChatService {
    /// Common groups checked at once for the contact check (each is one read of its shard).
    static let maxSharedGroupChecks = 16

    /// `GET /v1/users/{user}` (`me` is the caller).
    public func profile(_ session: Session, user: String, reply: @escaping (Result<JSONObject, ChatError>) -> Void) {
        view(session, user: user, details: true) { [clock] result in
            reply(result.map { ProfileRules.profile($0.profile, to: $0.relation, now: clock()) })
        }
    }

    /// `GET /v1/users/{user}/presence`
    public func presence(_ session: Session, user: String, reply: @escaping (Result<JSONObject, ChatError>) -> Void) {
        view(session, user: user, details: false) { [clock] result in
            reply(result.map { ProfileRules.presence($0.profile, to: $0.relation, now: clock()) })
        }
    }

    /// `PATCH /v1/users/me`: the caller's own profile after the change.
    public func updateProfile(_ session: Session, _ patch: ProfilePatch, reply: @escaping (Result<JSONObject, ChatError>) -> Void) {
        // TODO(assets): once assets exist, check here that the caller may read `patch.avatar`
        // (404 `not_found` as for an unknown asset otherwise) and record an avatar reference so
        // anyone who may see the profile may read the asset (GET /v1/assets/{id}).
        router.call(UpdateProfile(user: session.user, patch: patch)) { [clock] result in
            reply(result.map { ProfileRules.profile($0, to: .me, now: clock()) })
        }
    }

    private func view(_ session: Session, user: String, details: Bool,
                      reply: @escaping (Result<(profile: Profile, relation: Relation), ChatError>) -> Void) {
        let target = user == "me" ? session.user : user
        guard Identifiers.isValidUser(target) else { return reply(.failure(.badRequest("\(user) is not a valid user id"))) }
        router.call(ReadProfile(user: target, viewer: session.user)) { [self] result in
            switch result {
            case .failure(let error): return reply(.failure(error))
            case .success(nil): return reply(.failure(ChatError(.notFound, "no user \(target)")))
            case .success(let read?):
                let p = read.profile
                if target == session.user { return reply(.success((p, .me))) }
                if read.blocksViewer { return reply(.success((p, .blocked))) }
                if read.direct { return reply(.success((p, .contact))) }
                guard ProfileRules.needsContactCheck(p, details: details), !read.groups.isEmpty else {
                    return reply(.success((p, .stranger)))
                }
                sharesGroup(session.user, target, candidates: read.groups) { shares in
                    reply(.success((p, shares ? .contact : .stranger)))
                }
            }
        }
    }

    /// Whether `viewer` and `target` are both current members of one of `candidates` (the
    /// target's groups): the viewer's index narrows them, then each common group's shard says.
    /// A failed read counts as not shared (the answer shows less, never more).
    private func sharesGroup(_ viewer: String, _ target: String, candidates: [String], done: @escaping (Bool) -> Void) {
        router.call(ConversationIndex(user: viewer)) { [router] result in
            guard case .success(let mine) = result else { return done(false) }
            let theirs = Set(candidates)
            let common = mine.filter { theirs.contains($0) }.prefix(Self.maxSharedGroupChecks)
            guard !common.isEmpty else { return done(false) }
            router.callAll(common.map { AreMembers(conversationID: $0, users: [viewer, target]) }) { results in
                done(results.contains { if case .success(true) = $0 { true } else { false } })
            }
        }
    }
}
