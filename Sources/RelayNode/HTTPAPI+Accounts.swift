import Chat
import HTTPWire
import JSON

/// Accounts and sessions: signup, login, logout.
extension HTTPAPI {
    /// `POST /v1/signup`
    func signup(_ call: Call) {
        let respond = call.respond
        body(call) { [self] o throws(ChatError) in
            let user = try Fields.string(o, "user", maxBytes: 64)
            let password = try Fields.string(o, "password", maxBytes: ChatSettings.maxPasswordBytes)
            let displayName = try Fields.optionalString(o, "display_name", maxBytes: ChatSettings.maxDisplayNameBytes)
            let device = try device(o)
            chat.signup(user: user, password: password, displayName: displayName, device: device) { result in
                respond(Self.grant(result, status: 201))
            }
        }
    }

    /// `POST /v1/login`
    func login(_ call: Call) {
        let respond = call.respond
        guard let connection = call.connection else { return }
        body(call) { [self] o throws(ChatError) in
            let user = try Fields.string(o, "user", maxBytes: 64)
            let password = try Fields.string(o, "password", maxBytes: ChatSettings.maxPasswordBytes)
            let device = try device(o)
            // The TCP peer's IP, never a header a client could forge (docs/OPERATIONS.md).
            let source = LoginSource.ip(ofRemoteAddress: connection.tcp.remoteAddress)
            chat.login(user: user, password: password, device: device, source: source) { result in
                respond(Self.grant(result, status: 200))
            }
        }
    }

    /// `POST /v1/logout`: revokes the call's token and closes its WebSockets.
    func logout(_ call: Call) {
        let respond = call.respond
        authenticated(call) { [self] session in
            chat.logout(session) { [self] result in
                if case .failure(let error) = result { return respond(Reply.error(error)) }
                node.loggedOut(session)
                respond(Reply.noContent())
            }
        }
    }

    private static func grant(_ result: Result<ChatService.Grant, ChatError>, status: Int) -> HTTPResponse {
        switch result {
        case .success(let grant):
            Reply.json(status, ["user": .string(grant.user), "token": .string(grant.token), "expires_at": .int(grant.expiresAt)])
        case .failure(let error):
            Reply.error(error)
        }
    }

    private func device(_ o: JSONObject) throws(ChatError) -> String {
        guard let device = try Fields.optionalString(o, "device", maxBytes: Identifiers.maxDeviceBytes) else { return "default" }
        guard Identifiers.isValidDevice(device) else { throw .badRequest("`device` is 1 to 64 printable characters") }
        return device
    }
}
