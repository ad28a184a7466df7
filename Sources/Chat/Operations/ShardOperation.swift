import Wire

/// A request served by the primary of one shard: its code and binary form on the peer
/// protocol, the key that picks its shard, and its rule. The front of a node (whichever node
/// the client is connected to) makes these and sends them through a `ShardRouter`: served by
/// the local `ShardService` when this node leads the shard, over the peer protocol otherwise.
///
/// A rule runs on the shard's primary inside the shard's open transaction (one per loop turn)
/// and returns the reply; what else it causes (events to push, jobs for other shards) it asks
/// of the `ShardContext`. Rules check before they write: a rule that throws must not have
/// written (the service rolls the shard's transaction back if one did). The reply leaves only
/// once everything the rule could have read is committed and held by the shard's replicas.
///
/// Adding an operation: a type conforming to this in its feature's file, a code in
/// `OperationCode`, and a line in `Operations.all`; `OperationCodecTests` fails until it has a
/// round-trip example.
public protocol ShardOperation: Sendable, Equatable {
    associatedtype Reply: Sendable, Equatable
    static var code: OperationCode { get }
    var key: ShardKey { get }
    func encode(_ w: inout WireWriter)
    init(from r: inout WireReader) throws
    static func encode(reply: Reply, _ w: inout WireWriter)
    static func decodeReply(_ r: inout WireReader) throws -> Reply
    func run(in context: ShardContext) throws -> Reply
}

/// Every operation's code on the peer protocol (1-99; `ClusterOp` uses 100 and up). A code is
/// never reused for another meaning: nodes of two versions may talk during an upgrade.
public enum OperationCode: UInt16, Sendable, CaseIterable {
    // Accounts and sessions (Accounts.swift).
    case createUser = 1, passwordHash = 2, createSession = 3, findSession = 4, deleteSession = 5, userExists = 6
    // Conversation indexes and direct chats (Conversations.swift).
    case addToIndex = 7, conversationIndex = 8, openDirect = 9, conversationExists = 15, summaries = 13
    // Messages (Messaging.swift).
    case send = 10, history = 11, typing = 14
    // Cursors and receipts (Receipts.swift).
    case setCursors = 12
    // The outbox (Outbox.swift).
    case saveJobProgress = 16
    // Groups (Groups.swift) and their invite links (Invites.swift).
    case createGroup = 20, readGroup = 21, addMember = 22, removeMember = 23, setRole = 24, updateGroup = 25
    case createInvite = 26, listInvites = 27, revokeInvite = 28, acceptInvite = 29
    // Wallets, tips and operator commands (Wallet.swift): 60-79.
    case chargeTip = 60, walletOf = 61, creditReceived = 62, creditWallet = 63, revokeSessions = 64
    // Blocks and the moderation log (Blocks.swift); creator lists (Lists.swift): 40-59.
    case setBlock = 40, blockList = 41, setDirectBlock = 42, recordModeration = 43, moderationLog = 44
    case usersExist = 45, createList = 46, addListMembers = 47, removeListMember = 48, listsOf = 49, listDetail = 50
    case listMembersPage = 51, createListMessage = 52, listMessageProgress = 53
    // The key directory (Keys.swift): 210-219. (100-199 are the cluster's own operations,
    // `ClusterOp`, on the same peer links.)
    case putKeys = 210, takeKeyBundles = 211, prekeyCount = 212
    // Presence (Presence.swift) and profiles (Profiles.swift): 80-89.
    case setPresence = 80, presenceAudience = 81, areMembers = 82, readProfile = 83, updateProfile = 84
    // Assets (Assets.swift): 70-79.
    case registerAsset = 70, assetAccess = 71, addAssetRef = 72, setAvatarRef = 73, canReadSeq = 74
    // Notifications and mute (Notifications.swift); devices (Devices.swift): 90-109.
    case addNotification = 90, notificationList = 91, clearNotifications = 92, setMute = 93, notificationRecipients = 94
    case deviceSeen = 95, deviceList = 96, revokeDevice = 97
}

/// The table of operations: what a node can serve for a peer.
public enum Operations {
    public static let all: [any ShardOperation.Type] = [
        CreateUser.self, PasswordHash.self, CreateSession.self, FindSession.self, DeleteSession.self, UserExists.self,
        AddToIndex.self, ConversationIndex.self, OpenDirect.self, ConversationExists.self, Summaries.self,
        SendMessage.self, History.self, Typing.self,
        SetCursors.self,
        SaveJobProgress.self,
        CreateGroup.self, ReadGroup.self, AddMember.self, RemoveMember.self, SetRole.self, UpdateGroup.self,
        CreateInvite.self, ListInvites.self, RevokeInvite.self, AcceptInvite.self,
        ChargeTip.self, WalletOf.self, CreditReceived.self, CreditWallet.self, RevokeSessions.self,
        SetBlock.self, BlockList.self, SetDirectBlock.self, RecordModeration.self, ModerationLog.self,
        UsersExist.self, CreateList.self, AddListMembers.self, RemoveListMember.self, ListsOf.self, ListDetail.self,
        ListMembersPage.self, CreateListMessage.self, ListMessageProgress.self,
        PutKeys.self, TakeKeyBundles.self, PrekeyCount.self,
        SetPresence.self, PresenceAudience.self, AreMembers.self, ReadProfile.self, UpdateProfile.self,
        RegisterAsset.self, AssetAccess.self, AddAssetRef.self, SetAvatarRef.self, CanReadSeq.self,
        AddNotification.self, NotificationList.self, ClearNotifications.self, SetMute.self, NotificationRecipients.self,
        DeviceSeen.self, DeviceList.self, RevokeDevice.self,
    ]

    static let byCode: [UInt16: any ShardOperation.Type] = {
        var table: [UInt16: any ShardOperation.Type] = [:]
        for type in all {
            precondition(table[type.code.rawValue] == nil, "two operations with code \(type.code)")
            table[type.code.rawValue] = type
        }
        return table
    }()

    /// Decodes a peer's request: the operation, ready to be served.
    public static func decode(code: UInt16, payload: [UInt8]) throws(ShardCodecError) -> any ShardOperation {
        guard let type = byCode[code] else { throw ShardCodecError("unknown operation \(code)") }
        var r = WireReader(payload)
        do {
            let op = try type.init(from: &r)
            try r.expectEnd()
            return op
        } catch let error as ShardCodecError {
            throw error
        } catch {
            throw ShardCodecError("malformed \(type.code) request: \(error)")
        }
    }

    public static func encode<Op: ShardOperation>(_ op: Op) -> (code: UInt16, payload: [UInt8]) {
        var w = WireWriter()
        op.encode(&w)
        return (Op.code.rawValue, w.bytes)
    }

    /// A reply on the wire: a tag, then the failure (code, message, retry) or the reply.
    public static func encode<Op: ShardOperation>(result: Result<Op.Reply, ChatError>, of _: Op.Type) -> [UInt8] {
        var w = WireWriter()
        switch result {
        case .failure(let error):
            w.writeU8(0)
            w.writeString(error.code.rawValue)
            w.writeString(error.message)
            w.writeOptionalInt(error.retryAfterMs)
        case .success(let reply):
            w.writeU8(1)
            Op.encode(reply: reply, &w)
        }
        return w.bytes
    }

    public static func decodeResult<Op: ShardOperation>(_ payload: [UInt8], of _: Op.Type) throws(ShardCodecError) -> Result<Op.Reply, ChatError> {
        var r = WireReader(payload)
        do {
            let result: Result<Op.Reply, ChatError>
            switch try r.readU8() {
            case 0:
                let code = try r.readText(), message = try r.readText(), retry = try r.readOptionalInt()
                result = .failure(ChatError(ChatError.Code(rawValue: code) ?? .unavailable, message, retryAfterMs: retry))
            case 1:
                result = .success(try Op.decodeReply(&r))
            default:
                throw ShardCodecError("unknown reply tag")
            }
            try r.expectEnd()
            return result
        } catch let error as ShardCodecError {
            throw error
        } catch {
            throw ShardCodecError("malformed \(Op.code) reply: \(error)")
        }
    }
}

public struct ShardCodecError: Error, Sendable, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
    public static let tooLong = ShardCodecError("a list is too long")
}
