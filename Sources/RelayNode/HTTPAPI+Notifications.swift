import Chat
import HTTPWire
import JSON

/// Notifications, mute and devices (docs/NOTIFICATIONS.md).
extension HTTPAPI {
    /// `GET /v1/notifications?after=ID&limit=N`: the caller's in-app notifications with an id
    /// above `after` (0 by default), oldest first, at most `limit` (100 by default, 500 at most).
    func notifications(_ call: Call) {
        let respond = call.respond
        authenticated(call) { [self] session in
            let after: Int64, limit: Int64
            do {
                after = try Fields.querySeq(call.request.query, "after") ?? 0
                limit = try Fields.querySeq(call.request.query, "limit") ?? Int64(NotificationLimits.defaultPage)
                guard limit >= 1 else { throw ChatError.badRequest("`limit` is at least 1") }
            } catch {
                return respond(Reply.error(error as? ChatError ?? .badRequest("bad query")))
            }
            chat.notifications(session, after: after, limit: Int(min(limit, Int64(NotificationLimits.maxPage)))) { result in
                switch result {
                case .success(let list):
                    let items: [JSON] = list.map {
                        .object(["id": .int($0.id), "conversation_id": .string($0.conversationID), "seq": .int($0.seq),
                                 "sender": .string($0.sender), "preview": .string($0.preview), "ts": .int($0.ts)])
                    }
                    respond(Reply.json(200, ["notifications": .array(items)]))
                case .failure(let error): respond(Reply.error(error))
                }
            }
        }
    }

    /// `PUT /v1/conversations/{id}/mute`: 204, idempotent.
    func mute(_ call: Call) { setMute(call, muted: true) }

    /// `DELETE /v1/conversations/{id}/mute`: 204, idempotent.
    func unmute(_ call: Call) { setMute(call, muted: false) }

    private func setMute(_ call: Call, muted: Bool) {
        let respond = call.respond
        authenticated(call) { [self] session in
            let id: String
            do throws(ChatError) { id = try call.parameter("id") } catch { return respond(Reply.error(error)) }
            chat.mute(session, conversationID: id, muted: muted) { result in
                switch result {
                case .success: respond(Reply.noContent())
                case .failure(let error): respond(Reply.error(error))
                }
            }
        }
    }

    /// `GET /v1/devices`: online means connected now, as this node's view of the cluster
    /// knows it (a device whose node died shows offline).
    func devices(_ call: Call) {
        let respond = call.respond
        authenticated(call) { [self] session in
            chat.devices(session) { [self] result in
                switch result {
                case .success(let list):
                    let remote = Set(node.cluster.directory.nodes(of: session.user))
                    let items: [JSON] = list.map { d in
                        let online = d.online && (d.node == node.id
                            ? node.registry.sessions(of: session.user).contains { $0.device == d.device }
                            : remote.contains(d.node))
                        return .object(["device": .string(d.device), "online": .bool(online), "last_seen": .int(d.lastSeen)])
                    }
                    respond(Reply.json(200, ["devices": .array(items)]))
                case .failure(let error): respond(Reply.error(error))
                }
            }
        }
    }

    /// `DELETE /v1/devices/{device}`: 204; the device's tokens stop working on every node and
    /// their WebSockets close (4001).
    func revokeDevice(_ call: Call) {
        let respond = call.respond
        authenticated(call) { [self] session in
            let device: String
            do throws(ChatError) { device = try call.parameter("device") } catch { return respond(Reply.error(error)) }
            chat.revokeDevice(session, device: device) { [self] result in
                switch result {
                case .success(let hashes):
                    for hash in hashes { node.cluster.directory.loggedOut(user: session.user, tokenHash: hash) }
                    respond(Reply.noContent())
                case .failure(let error): respond(Reply.error(error))
                }
            }
        }
    }
}
