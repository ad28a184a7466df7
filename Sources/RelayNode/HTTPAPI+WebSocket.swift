import Chat
import HTTPWire

/// The WebSocket's door: the upgrade. What the socket carries is `WebSocketSession`'s.
extension HTTPAPI {
    /// `GET /v1/ws?token=…&device=…`: the token is checked before the 101, so a refused
    /// client gets an HTTP 401 it can read rather than a closed socket.
    func upgrade(_ call: Call) {
        let request = call.request, respond = call.respond
        let acceptKey: String
        switch WebSocketHandshake.validate(request) {
        case .success(let key): acceptKey = key
        case .failure(let error):
            var response = Reply.error(status: error.status, code: Reply.code(forStatus: error.status), message: error.message)
            for (name, value) in WebSocketHandshake.rejectionHeaders(for: error) { response.headers.set(name, value) }
            return respond(response)
        }
        guard let token = request.query["token"] else { return respond(Reply.error(.unauthorized)) }
        let requestedDevice = request.query["device"]
        if let requestedDevice, !Identifiers.isValidDevice(requestedDevice) {
            return respond(Reply.error(.badRequest("`device` is 1 to 64 printable characters")))
        }
        chat.authenticate(token: token) { [weak self, weak connection = call.connection] result in
            guard let self, let connection else { return }
            switch result {
            case .failure(let error): respond(Reply.error(error))
            case .success(let session):
                let ws = WebSocketSession(ref: ConnectionRef(node: node.id, id: connection.id), session: session,
                                          device: requestedDevice ?? session.device, connection: connection, node: node)
                connection.upgrade(to: ws, acceptKey: acceptKey)
            }
        }
    }
}
