import Store

// The front's side of notifications, mute and devices (the shard operations are in
// Notifications.swift and Devices.swift): each is one operation on the user's shard.
extension ChatService {
    /// `GET /v1/notifications?after=ID`.
    public func notifications(_ session: Session, after: Int64, limit: Int,
                              reply: @escaping (Result<[ChatNotification], ChatError>) -> Void) {
        router.call(NotificationList(user: session.user, after: after, limit: limit), reply: reply)
    }

    /// `PUT` / `DELETE /v1/conversations/{id}/mute`.
    public func mute(_ session: Session, conversationID: String, muted: Bool, reply: @escaping (Result<Void, ChatError>) -> Void) {
        guard Identifiers.isValidConversation(conversationID) else {
            return reply(.failure(.badRequest("not a valid conversation id")))
        }
        router.call(SetMute(user: session.user, conversationID: conversationID, muted: muted)) { reply($0.map { _ in () }) }
    }

    /// `GET /v1/devices` (the node refines `online` against the cluster's connections).
    public func devices(_ session: Session, reply: @escaping (Result<[DeviceInfo], ChatError>) -> Void) {
        router.call(DeviceList(user: session.user), reply: reply)
    }

    /// `DELETE /v1/devices/{device}`: answers the revoked tokens' hashes, whose connections
    /// the node then closes everywhere.
    public func revokeDevice(_ session: Session, device: String, reply: @escaping (Result<[[UInt8]], ChatError>) -> Void) {
        guard Identifiers.isValidDevice(device) else {
            return reply(.failure(.badRequest("`device` is 1 to 64 printable characters")))
        }
        router.call(RevokeDevice(user: session.user, device: device), reply: reply)
    }

    /// A device's WebSocket opened or its last one on this node closed; answers when the
    /// device was first seen.
    public func deviceSeen(user: String, device: String, node: String, online: Bool, reply: @escaping (Result<Int64, ChatError>) -> Void) {
        router.call(DeviceSeen(user: user, device: device, node: node, online: online), reply: reply)
    }
}
