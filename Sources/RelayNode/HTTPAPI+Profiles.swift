import Chat
import HTTPWire
import JSON

/// Profiles and presence (docs/PRESENCE.md): what each viewer sees is decided in
/// `ProfileRules`; `me` names the caller.
extension HTTPAPI {
    /// `GET /v1/users/{user}` -> `{user, display_name, about, avatar, last_seen?}`
    func profile(_ call: Call) {
        let respond = call.respond
        authenticated(call) { [self] session in
            let user: String
            do throws(ChatError) { user = try call.parameter("user") } catch { return respond(Reply.error(error)) }
            chat.profile(session, user: user) { respond(Self.objectReply($0)) }
        }
    }

    /// `GET /v1/users/{user}/presence` -> `{user, online, last_seen}`
    func presence(_ call: Call) {
        let respond = call.respond
        authenticated(call) { [self] session in
            let user: String
            do throws(ChatError) { user = try call.parameter("user") } catch { return respond(Reply.error(error)) }
            chat.presence(session, user: user) { respond(Self.objectReply($0)) }
        }
    }

    /// `PATCH /v1/users/me` {display_name?, about?, avatar?, last_seen_visibility?, profile_visibility?} -> 200 the profile
    func updateProfile(_ call: Call) {
        let respond = call.respond
        authenticated(call) { [self] session in
            body(call) { [self] o throws(ChatError) in
                chat.updateProfile(session, try ProfilePatch(o)) { respond(Self.objectReply($0)) }
            }
        }
    }

    private static func objectReply(_ result: Result<JSONObject, ChatError>) -> HTTPResponse {
        switch result {
        case .success(let o): return Reply.json(200, .object(o))
        case .failure(let error): return Reply.error(error)
        }
    }
}
