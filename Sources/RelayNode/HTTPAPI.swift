import Chat
import Foundation
import HTTPWire
import JSON
import Store

/// The HTTP endpoints of PROTOCOL.md: each one parses its input, calls the chat service and
/// answers. The WebSocket upgrade starts here too.
final class HTTPAPI {
    unowned let node: Node

    init(node: Node) { self.node = node }

    private var chat: ChatService { node.chat }

    /// Status answers that take milliseconds to build (every shard's configuration, the
    /// membership with per-node counts) are built at most once per change of the cluster's
    /// state and per `maxAgeMs`, so a client asking for them in a loop costs a copy each.
    private struct Cached {
        var version: UInt64
        var builtAtMs: Int64
        var response: HTTPResponse
    }
    private var cached: [String: Cached] = [:]
    /// Freshness bounds: the shard table changes only with the replicas' state (`changes`
    /// tracks it; the age bound catches what it does not); the cluster status also carries
    /// counters, fresh enough at a quarter second for a human or a poller.
    static let shardStatusMaxAgeMs: Int64 = 1_000
    static let clusterStatusMaxAgeMs: Int64 = 250

    private func cachedStatus(_ key: String, maxAgeMs: Int64, build: () -> HTTPResponse) -> HTTPResponse {
        let version = node.cluster.replicator.changes, now = node.loop.monotonicMs
        if let entry = cached[key], entry.version == version, now - entry.builtAtMs < maxAgeMs { return entry.response }
        let response = build()
        cached[key] = Cached(version: version, builtAtMs: now, response: response)
        return response
    }

    func handle(_ request: HTTPRequest, on connection: ClientConnection) {
        let keepAlive = request.keepAlive
        let head = request.method == "HEAD"
        let respond: (HTTPResponse) -> Void = { [weak connection] response in
            connection?.respond(response, keepAlive: keepAlive, head: head)
        }
        node.log.debug("\(request.method) \(request.path)")
        let method = head ? "GET" : request.method
        let segments = request.pathSegments

        if method == "OPTIONS" {
            // CORS preflight: tokens travel in a header, never in cookies, so any origin may call.
            var response = Reply.noContent()
            response.headers.set("Access-Control-Allow-Methods", "GET, POST, PUT, PATCH, DELETE, OPTIONS")
            response.headers.set("Access-Control-Allow-Headers", "Authorization, Content-Type")
            response.headers.set("Access-Control-Max-Age", "600")
            return respond(response)
        }

        // The conversation id of /v1/conversations/{id}/messages and …/receipts.
        let conversationID = segments.count == 4 && segments[0] == "v1" && segments[1] == "conversations" ? segments[2] : ""
        let leaf = segments.count == 4 ? segments[3] : ""
        switch (method, segments) {
        case ("GET", ["healthz"]):
            respond(Reply.json(200, ["status": "ok", "node": .string(node.id)]))
        case ("GET", ["metrics"]):
            var response = HTTPResponse(status: 200, body: Array(node.metricsText().utf8))
            response.headers.set("Content-Type", "text/plain; version=0.0.4")
            respond(response)
        case ("GET", ["v1", "cluster"]):
            respond(cachedStatus("cluster", maxAgeMs: Self.clusterStatusMaxAgeMs) { Reply.json(200, node.clusterStatus()) })
        case ("GET", ["v1", "cluster", "shards"]):
            // Each shard's configuration as this node knows it; `?conversation=` or `?user=`
            // picks the shard that holds that conversation or account.
            var shard: Int?
            for (name, prefix) in [("conversation", "conv:"), ("user", "user:")] {
                guard let id = request.query[name] else { continue }
                guard !id.isEmpty, id.utf8.count <= 256 else { return respond(Reply.error(.badRequest("bad \(name) id"))) }
                shard = node.shardMap.shard(forKey: prefix + id)
            }
            if let shard { return respond(Reply.json(200, node.cluster.shardStatus(only: shard))) }
            respond(cachedStatus("shards", maxAgeMs: Self.shardStatusMaxAgeMs) { Reply.json(200, node.cluster.shardStatus(only: nil)) })
        case ("POST", ["v1", "cluster", "leave"]):
            // Operators only: the cluster's secret is the credential.
            guard request.headers["Authorization"] == "Bearer " + node.config.secret else {
                return respond(Reply.error(.unauthorized))
            }
            node.leave()
            respond(Reply.json(202, ["status": "leaving", "node": .string(node.id)]))
        case ("POST", ["v1", "signup"]):
            body(request, respond) { [self] o throws(ChatError) in
                let user = try Fields.string(o, "user", maxBytes: 64)
                let password = try Fields.string(o, "password", maxBytes: ChatSettings.maxPasswordBytes)
                let displayName = try Fields.optionalString(o, "display_name", maxBytes: ChatSettings.maxDisplayNameBytes)
                let device = try device(o)
                chat.signup(user: user, password: password, displayName: displayName, device: device) { result in
                    respond(Self.grant(result, status: 201))
                }
            }
        case ("POST", ["v1", "login"]):
            body(request, respond) { [self] o throws(ChatError) in
                let user = try Fields.string(o, "user", maxBytes: 64)
                let password = try Fields.string(o, "password", maxBytes: ChatSettings.maxPasswordBytes)
                let device = try device(o)
                // The TCP peer's IP, never a header a client could forge (docs/OPERATIONS.md).
                let source = LoginSource.ip(ofRemoteAddress: connection.tcp.remoteAddress)
                chat.login(user: user, password: password, device: device, source: source) { result in
                    respond(Self.grant(result, status: 200))
                }
            }
        case ("POST", ["v1", "logout"]):
            authenticated(request, respond) { [self] session in
                chat.logout(session) { [self] result in
                    if case .failure(let error) = result { return respond(Reply.error(error)) }
                    node.loggedOut(session)
                    respond(Reply.noContent())
                }
            }
        case ("POST", ["v1", "messages"]):
            authenticated(request, respond) { [self] session in
                body(request, respond) { [self] o throws(ChatError) in
                    let command = try SendCommand(o)
                    chat.send(session, command, origin: nil) { [self] result in
                        switch result {
                        case .success(let ack):
                            node.metrics.messagesAcked += 1
                            respond(Reply.json(200, .object(EventJSON.ack(ack))))
                        case .failure(let error):
                            respond(Reply.error(error))
                        }
                    }
                }
            }
        case ("GET", ["v1", "conversations"]):
            authenticated(request, respond) { [self] session in
                chat.conversations(session) { result in
                    switch result {
                    case .success(let list):
                        respond(Reply.json(200, ["conversations": .array(list.map { EventJSON.summary($0, full: true) })]))
                    case .failure(let error): respond(Reply.error(error))
                    }
                }
            }
        case ("GET", _) where !conversationID.isEmpty && leaf == "messages":
            let id = conversationID
            authenticated(request, respond) { [self] session in
                let query: HistoryQuery
                do {
                    let limit = try Fields.querySeq(request.query, "limit") ?? 50
                    guard limit >= 1 else { throw ChatError.badRequest("`limit` is at least 1") }
                    query = HistoryQuery(after: try Fields.querySeq(request.query, "after"),
                                         before: try Fields.querySeq(request.query, "before"),
                                         limit: Int(min(limit, Int64(ShardService.maxPageSize))))
                } catch {
                    return respond(Reply.error(error as? ChatError ?? .badRequest("bad query")))
                }
                chat.history(session, conversationID: id, query: query) { result in
                    switch result {
                    case .success(let page):
                        respond(Reply.json(200, ["messages": .array(page.messages.map { .object(EventJSON.message($0)) }),
                                                 "has_more": .bool(page.hasMore)]))
                    case .failure(let error): respond(Reply.error(error))
                    }
                }
            }
        case ("POST", _) where !conversationID.isEmpty && leaf == "receipts":
            let id = conversationID
            authenticated(request, respond) { [self] session in
                body(request, respond) { [self] o throws(ChatError) in
                    let command = try ReceiptCommand(o, conversationID: id)
                    chat.receipt(session, command) { result in
                        switch result {
                        case .success: respond(Reply.noContent())
                        case .failure(let error): respond(Reply.error(error))
                        }
                    }
                }
            }
        case ("GET", ["v1", "ws"]):
            upgrade(request, connection, respond)
        default:
            if Self.knownPaths(segments) {
                respond(Reply.error(status: 405, code: "bad_request", message: "\(request.method) is not allowed on \(request.path)"))
            } else {
                respond(Reply.error(status: 404, code: "not_found", message: "no endpoint \(request.path)"))
            }
        }
    }

    private static func knownPaths(_ s: [String]) -> Bool {
        switch s {
        case ["healthz"], ["metrics"], ["v1", "cluster"], ["v1", "cluster", "shards"], ["v1", "cluster", "leave"], ["v1", "signup"], ["v1", "login"], ["v1", "logout"],
             ["v1", "messages"], ["v1", "conversations"], ["v1", "ws"]: return true
        case _ where s.count == 4 && s[0] == "v1" && s[1] == "conversations" && (s[3] == "messages" || s[3] == "receipts"): return true
        default: return false
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

    /// The JSON object body, or a 400.
    private func body(_ request: HTTPRequest, _ respond: @escaping (HTTPResponse) -> Void,
                      _ handler: (JSONObject) throws(ChatError) -> Void) {
        let json: JSON
        do { json = try JSON.parse(request.body) } catch {
            return respond(Reply.error(.badRequest(request.body.isEmpty ? "a JSON object body is required" : "invalid JSON: \(error)")))
        }
        guard let o = json.objectValue else { return respond(Reply.error(.badRequest("the body is a JSON object"))) }
        do { try handler(o) } catch { respond(Reply.error(error)) }
    }

    private func authenticated(_ request: HTTPRequest, _ respond: @escaping (HTTPResponse) -> Void,
                               _ handler: @escaping (Session) -> Void) {
        guard let header = request.headers["Authorization"], header.hasPrefix("Bearer ") else {
            return respond(Reply.error(.unauthorized))
        }
        let token = String(header.dropFirst("Bearer ".count)).trimmingCharacters(in: .whitespaces)
        chat.authenticate(token: token) { result in
            switch result {
            case .success(let session): handler(session)
            case .failure(let error): respond(Reply.error(error))
            }
        }
    }

    /// `GET /v1/ws?token=…&device=…`: the token is checked before the 101, so a refused
    /// client gets an HTTP 401 it can read rather than a closed socket.
    private func upgrade(_ request: HTTPRequest, _ connection: ClientConnection, _ respond: @escaping (HTTPResponse) -> Void) {
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
        chat.authenticate(token: token) { [weak self, weak connection] result in
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
