import Store
import Wire

// Devices (PROTOCOL.md `GET /v1/devices`, docs/NOTIFICATIONS.md "Devices"): a user's devices
// are the device names of their sessions (tokens) and of their WebSocket connections. The
// user's shard keeps a row per device that connected (`devices`: the node it is on, whether
// it is connected, when it was first and last seen), written when a device's WebSocket opens
// and when its last one on a node closes. Revoking a device deletes the sessions issued for it
// (their tokens stop working on every node; the front closes their connections).
//
// Per-device delivered cursors live on each conversation's shard (`device_cursors`): a
// receipt from a device moves its own cursor as well as the member's (which is the highest
// over the user's devices, as it only moves forward); the connect backlog starts at the
// device's own cursor (`Summaries` with a device). A device without a cursor in a
// conversation starts at the member's first seq if the conversation is newer than the device
// (it has not seen any of it), else at the member's delivered cursor when it first asked
// (written then, so other devices' receipts do not move it).

/// One device of a user, as `GET /v1/devices` shows it (`online` is refined by the node
/// against its view of the cluster's connections).
public struct DeviceInfo: Sendable, Equatable {
    public var device: String
    /// The node its last connection was on ("" for a device that never connected).
    public var node: String
    public var online: Bool
    public var lastSeen: Int64
    public init(device: String, node: String, online: Bool, lastSeen: Int64) {
        self.device = device
        self.node = node
        self.online = online
        self.lastSeen = lastSeen
    }
}

public enum DeviceLimits {
    /// Devices one `GET /v1/devices` lists (newest seen first beyond it are dropped).
    public static let maxListed = 1_000
    /// Devices per user with their own row and cursors: each tracked device costs a cursor row
    /// per conversation, so a client making up device names cannot grow a shard without bound.
    /// A new device past it replaces the offline one seen longest ago; if all are online it is
    /// not tracked (its backlog follows the user's cursor, as before devices had cursors).
    public static let maxTracked = 100
    /// What `DeviceSeen` answers for a device it does not track.
    public static let untracked: Int64 = -1
}

/// A device's WebSocket opened (`online`) or its last one on `node` closed. Answers when the
/// device was first seen (now, for a new one), or `DeviceLimits.untracked`.
public struct DeviceSeen: ShardOperation {
    public static let code = OperationCode.deviceSeen
    public var user: String
    public var device: String
    public var node: String
    public var online: Bool
    public init(user: String, device: String, node: String, online: Bool) {
        self.user = user
        self.device = device
        self.node = node
        self.online = online
    }
    public var key: ShardKey { .user(user) }
    public func encode(_ w: inout WireWriter) { w.writeString(user); w.writeString(device); w.writeString(node); w.writeBool(online) }
    public init(from r: inout WireReader) throws {
        self.init(user: try r.readText(), device: try r.readText(), node: try r.readText(), online: try r.readBool())
    }
    public static func encode(reply: Int64, _ w: inout WireWriter) { w.writeInt(reply) }
    public static func decodeReply(_ r: inout WireReader) throws -> Int64 { try r.readInt() }

    public func run(in context: ShardContext) throws -> Int64 {
        let store = context.store
        let row = try store.deviceRow(user: user, device: device)
        if online, let row, row.online, row.node == node {
            return row.firstSeen   // another connection of the device on the same node: nothing changes
        } else if online {
            if row == nil, try store.deviceCount(user: user) >= DeviceLimits.maxTracked {
                guard let oldest = try store.oldestOfflineDevice(user: user) else { return DeviceLimits.untracked }
                try store.deleteDeviceRow(user: user, device: oldest)
            }
            try store.setDevice(user: user, device: device, node: node, online: true, firstSeen: row?.firstSeen ?? context.now,
                                lastSeen: context.now)
        } else if let row, row.node == node, row.online {
            // Only the node it is on says it went: a later connection elsewhere stands.
            try store.setDevice(user: user, device: device, node: node, online: false, firstSeen: row.firstSeen, lastSeen: context.now)
        }
        return row?.firstSeen ?? context.now
    }
}

/// The user's devices: those with sessions and those that connected, by name.
public struct DeviceList: ShardOperation {
    public static let code = OperationCode.deviceList
    public var user: String
    public init(user: String) { self.user = user }
    public var key: ShardKey { .user(user) }
    public func encode(_ w: inout WireWriter) { w.writeString(user) }
    public init(from r: inout WireReader) throws { user = try r.readText() }
    public static func encode(reply: [DeviceInfo], _ w: inout WireWriter) {
        w.writeList(reply) { d, w in w.writeString(d.device); w.writeString(d.node); w.writeBool(d.online); w.writeInt(d.lastSeen) }
    }
    public static func decodeReply(_ r: inout WireReader) throws -> [DeviceInfo] {
        try r.readList(minBytes: 17) { r in
            DeviceInfo(device: try r.readText(), node: try r.readText(), online: try r.readBool(), lastSeen: try r.readInt())
        }
    }
    public func run(in context: ShardContext) throws -> [DeviceInfo] { try context.store.devices(user: user) }
}

/// Deletes the sessions issued for `device`, its row and its end-to-end keys; answers the
/// token hashes (the front closes their connections on every node). A device the user never
/// had: not found.
public struct RevokeDevice: ShardOperation {
    public static let code = OperationCode.revokeDevice
    public var user: String
    public var device: String
    public init(user: String, device: String) {
        self.user = user
        self.device = device
    }
    public var key: ShardKey { .user(user) }
    public func encode(_ w: inout WireWriter) { w.writeString(user); w.writeString(device) }
    public init(from r: inout WireReader) throws { self.init(user: try r.readText(), device: try r.readText()) }
    public static func encode(reply: [[UInt8]], _ w: inout WireWriter) { w.writeList(reply) { hash, w in w.writeBytes(hash) } }
    public static func decodeReply(_ r: inout WireReader) throws -> [[UInt8]] {
        try r.readList(minBytes: 4) { try $0.readBytes(maxBytes: 64) }
    }
    public func run(in context: ShardContext) throws -> [[UInt8]] {
        let store = context.store
        let hashes = try store.sessionHashes(user: user, device: device)
        let known = try store.deviceRow(user: user, device: device) != nil
            || store.identityKey(user: user, device: device) != nil
        guard known || !hashes.isEmpty else { throw ChatError(.notFound, "no device \(device)") }
        try store.deleteDevice(user: user, device: device)
        try store.deleteKeys(user: user, device: device)   // its end-to-end keys go with it (Keys.swift)
        return hashes
    }
}

// MARK: Per-device cursors (on the conversation's shard)

extension ShardStore {
    /// The device's delivered cursor for the connect backlog (see the top of this file).
    func deviceDelivered(conversation: ConversationRecord, member: MemberRecord, device: String, firstSeen: Int64) throws(StoreError) -> Int64 {
        if let cursor = try deviceCursor(conversationID: conversation.id, user: member.user, device: device) { return cursor }
        if conversation.createdAt >= firstSeen { return member.joinedSeq }
        try setDeviceCursor(conversationID: conversation.id, user: member.user, device: device, delivered: member.delivered)
        return member.delivered
    }
}
