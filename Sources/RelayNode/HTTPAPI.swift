import Chat
import Foundation
import HTTPWire
import JSON

/// The HTTP endpoints of PROTOCOL.md. `routes` lists them all; each handler lives in its
/// feature's file (`HTTPAPI+Accounts.swift`, `+Messaging`, `+Cluster`, `+WebSocket`), parses
/// its input, calls the chat service and answers. Unknown paths (404) and wrong methods (405
/// with `Allow`) are answered by the table, the CORS preflight here, for every path.
final class HTTPAPI {
    /// A route's handler: a method of `HTTPAPI` (`HTTPAPI.login`) that takes the call.
    typealias Handler = @Sendable (HTTPAPI) -> (Call) -> Void

    /// Every endpoint. Adding one is a line here and its handler in its feature's file
    /// (docs/HTTP.md, "Adding an endpoint").
    static let routes = RouteTable<Handler>([
        // Operations: HTTPAPI+Cluster.swift
        .get("/healthz", HTTPAPI.healthz),
        .get("/metrics", HTTPAPI.metrics),
        .get("/v1/cluster", HTTPAPI.cluster),
        .get("/v1/cluster/shards", HTTPAPI.clusterShards),
        .post("/v1/cluster/leave", HTTPAPI.clusterLeave),
        // Accounts and sessions: HTTPAPI+Accounts.swift
        .post("/v1/signup", HTTPAPI.signup),
        .post("/v1/login", HTTPAPI.login),
        .post("/v1/logout", HTTPAPI.logout),
        // Messaging, history, receipts: HTTPAPI+Messaging.swift
        .post("/v1/messages", HTTPAPI.sendMessage),
        .get("/v1/conversations", HTTPAPI.conversations),
        .get("/v1/conversations/{id}/messages", HTTPAPI.history),
        .post("/v1/conversations/{id}/receipts", HTTPAPI.receipts),
        // Groups and invite links: HTTPAPI+Groups.swift
        .post("/v1/groups", HTTPAPI.createGroup),
        .get("/v1/groups/{id}", HTTPAPI.readGroup),
        .patch("/v1/groups/{id}", HTTPAPI.updateGroup),
        .post("/v1/groups/{id}/members", HTTPAPI.addMember),
        .delete("/v1/groups/{id}/members/{user}", HTTPAPI.removeMember),
        .put("/v1/groups/{id}/members/{user}/role", HTTPAPI.setRole),
        .post("/v1/groups/{id}/invites", HTTPAPI.createInvite),
        .get("/v1/groups/{id}/invites", HTTPAPI.listInvites),
        .delete("/v1/invites/{code}", HTTPAPI.revokeInvite),
        .post("/v1/invites/{code}/accept", HTTPAPI.acceptInvite),
        // Wallets: HTTPAPI+Wallet.swift
        .get("/v1/wallet", HTTPAPI.wallet),
        // Operator commands (relaynode admin, the cluster secret): HTTPAPI+Admin.swift
        .post("/v1/admin/credit", HTTPAPI.adminCredit),
        .post("/v1/admin/users/{user}/revoke-sessions", HTTPAPI.adminRevokeSessions),
        // Blocking: HTTPAPI+Blocks.swift
        .put("/v1/blocks/{user}", HTTPAPI.block),
        .delete("/v1/blocks/{user}", HTTPAPI.unblock),
        .get("/v1/blocks", HTTPAPI.blockList),
        // Creator lists and mass messages: HTTPAPI+Lists.swift
        .post("/v1/lists", HTTPAPI.createList),
        .get("/v1/lists", HTTPAPI.listLists),
        .get("/v1/lists/{id}", HTTPAPI.listDetail),
        .post("/v1/lists/{id}/members", HTTPAPI.addListMembers),
        .put("/v1/lists/{id}/members/{user}", HTTPAPI.addListMember),
        .delete("/v1/lists/{id}/members/{user}", HTTPAPI.removeListMember),
        .post("/v1/lists/{id}/messages", HTTPAPI.sendToList),
        .get("/v1/lists/{id}/messages/{client_id}", HTTPAPI.listMessageProgress),
        // Operators (the cluster secret): the moderation log, a mass message's progress
        .get("/v1/admin/users/{user}/moderation", HTTPAPI.adminModerationLog),
        .get("/v1/admin/users/{owner}/lists/{list_id}/messages/{client_id}", HTTPAPI.adminListMessageProgress),
        // The key directory for end-to-end encryption: HTTPAPI+Keys.swift
        .put("/v1/keys", HTTPAPI.putKeys),
        .get("/v1/users/{user}/keys", HTTPAPI.userKeys),
        // The web client: HTTPAPI+Web.swift
        .get("/", HTTPAPI.webIndex),
        .get("/web/{file}", HTTPAPI.webAsset),
        // Profiles and presence: HTTPAPI+Profiles.swift
        .get("/v1/users/{user}", HTTPAPI.profile),
        .patch("/v1/users/me", HTTPAPI.updateProfile),
        .get("/v1/users/{user}/presence", HTTPAPI.presence),
        // Assets: HTTPAPI+Assets.swift (POST streams its body: ClientServer.limits)
        .post("/v1/assets", HTTPAPI.uploadAsset),
        .get("/v1/assets/{id}", HTTPAPI.downloadAsset),
        // Notifications, mute and devices: HTTPAPI+Notifications.swift
        .get("/v1/notifications", HTTPAPI.notifications),
        .put("/v1/conversations/{id}/mute", HTTPAPI.mute),
        .delete("/v1/conversations/{id}/mute", HTTPAPI.unmute),
        .get("/v1/devices", HTTPAPI.devices),
        .delete("/v1/devices/{device}", HTTPAPI.revokeDevice),
        // The WebSocket upgrade: HTTPAPI+WebSocket.swift
        .get("/v1/ws", HTTPAPI.upgrade),
    ], alsoAllowed: ["OPTIONS"])

    /// One request as its handler sees it.
    struct Call {
        let request: HTTPRequest
        /// The route pattern's parameters (`{id}`), percent-decoded.
        let parameters: PathParameters
        /// Weak: an answer that arrives after the client left is dropped, not kept alive.
        weak var connection: ClientConnection?
        /// Sends the answer (its head alone for HEAD), once.
        let respond: (HTTPResponse) -> Void

        /// The route's `{name}`; a name the pattern lacks is a bug between the table and the
        /// handler, answered as a 400 rather than trapping the node.
        func parameter(_ name: String) throws(ChatError) -> String {
            do { return try parameters.value(name) } catch { throw .badRequest("\(request.path): \(error)") }
        }
    }

    unowned let node: Node

    init(node: Node) {
        self.node = node
        // Built now, so a mistake in a table stops the node at its start, not at a request.
        _ = Self.routes
        _ = WebSocketSession.commands
    }

    var chat: ChatService { node.chat }

    func handle(_ request: HTTPRequest, on connection: ClientConnection) {
        let keepAlive = request.keepAlive
        let head = request.method == "HEAD"
        let respond: (HTTPResponse) -> Void = { [weak connection] response in
            connection?.respond(response, keepAlive: keepAlive, head: head)
        }
        node.log.debug("\(request.method) \(request.path)")

        if request.method == "OPTIONS" {
            // CORS preflight: tokens travel in a header, never in cookies, so any origin may call.
            var response = Reply.noContent()
            response.headers.set("Access-Control-Allow-Methods", "GET, POST, PUT, PATCH, DELETE, OPTIONS")
            response.headers.set("Access-Control-Allow-Headers", "Authorization, Content-Type")
            response.headers.set("Access-Control-Max-Age", "600")
            return respond(response)
        }

        switch Self.routes.lookup(method: request.method, segments: request.pathSegments) {
        case .found(let handler, let parameters):
            handler(self)(Call(request: request, parameters: parameters, connection: connection, respond: respond))
        case .methodNotAllowed(let allow):
            // RFC 9110 15.5.6: a 405 lists the methods the path takes.
            var response = Reply.error(status: 405, code: "bad_request", message: "\(request.method) is not allowed on \(request.path)")
            response.headers.set("Allow", allow.joined(separator: ", "))
            respond(response)
        case .notFound:
            respond(Reply.error(status: 404, code: "not_found", message: "no endpoint \(request.path)"))
        }
    }

    // MARK: Shared by the handlers

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

    func cachedStatus(_ key: String, maxAgeMs: Int64, build: () -> HTTPResponse) -> HTTPResponse {
        let version = node.cluster.replicator.changes, now = node.loop.monotonicMs
        if let entry = cached[key], entry.version == version, now - entry.builtAtMs < maxAgeMs { return entry.response }
        let response = build()
        cached[key] = Cached(version: version, builtAtMs: now, response: response)
        return response
    }

    /// The JSON object body, or a 400.
    func body(_ call: Call, _ handler: (JSONObject) throws(ChatError) -> Void) {
        let json: JSON
        do { json = try JSON.parse(call.request.body) } catch {
            return call.respond(Reply.error(.badRequest(call.request.body.isEmpty ? "a JSON object body is required" : "invalid JSON: \(error)")))
        }
        guard let o = json.objectValue else { return call.respond(Reply.error(.badRequest("the body is a JSON object"))) }
        do { try handler(o) } catch { call.respond(Reply.error(error)) }
    }

    /// The session of the call's bearer token, or a 401.
    func authenticated(_ call: Call, _ handler: @escaping (Session) -> Void) {
        guard let header = call.request.headers["Authorization"], header.hasPrefix("Bearer ") else {
            return call.respond(Reply.error(.unauthorized))
        }
        let token = String(header.dropFirst("Bearer ".count)).trimmingCharacters(in: .whitespaces)
        let respond = call.respond
        chat.authenticate(token: token) { result in
            switch result {
            case .success(let session): handler(session)
            case .failure(let error): respond(Reply.error(error))
            }
        }
    }
}
