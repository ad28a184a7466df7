import JSON
import Store
import Wire

// Profiles and their privacy, on the user's shard: display name, about, avatar, who sees last
// seen (`last_seen_visibility`) and who sees about and avatar (`profile_visibility`). What a
// viewer sees is decided in one place (`ProfileRules`) for `GET /v1/users/{user}`,
// `GET /v1/users/{user}/presence` and `presence` events. The front's side (the contact check)
// is in ChatService+Profiles.swift; docs/PRESENCE.md has the rules in prose.

/// `everyone`, `contacts` (users who share a conversation) or `nobody`.
public enum Visibility: String, Sendable, CaseIterable {
    case everyone, contacts, nobody
}

public struct Profile: Sendable, Equatable {
    public var user: String
    public var displayName: String
    public var about: String
    /// An asset id, "" for none.
    public var avatar: String
    public var lastSeenVisibility: Visibility
    public var profileVisibility: Visibility
    /// Online cluster-wide, as the user's shard primary last decided (Presence.swift).
    public var online: Bool
    /// When the user's last connection closed; 0 if never.
    public var lastSeen: Int64
}

/// Who is looking, as the privacy rules see it.
public enum Relation: Sendable, Equatable {
    case me
    /// Shares a conversation with the user (a direct chat, or a group both are in now).
    case contact
    case stranger
    /// Someone the user blocked: sees no more than a stranger, and never last seen or online.
    case blocked
}

public enum ProfileLimits {
    /// About text: a few sentences (WhatsApp allows 139 characters; this leaves room).
    public static let maxAboutBytes = 1_024
    /// Asset ids are `a_` and a short token; anything longer is not one.
    public static let maxAvatarBytes = 80
}

/// What each viewer sees (docs/PRESENCE.md "Privacy").
public enum ProfileRules {
    public static func showsLastSeen(_ p: Profile, to relation: Relation) -> Bool {
        switch relation {
        case .me: return true
        case .blocked: return false
        case .contact: return p.lastSeenVisibility != .nobody
        case .stranger: return p.lastSeenVisibility == .everyone
        }
    }

    /// Online is shown to whoever may see last seen, and to contacts always (they are sent
    /// `presence` events whatever the setting; `nobody` hides only the time).
    public static func showsOnline(_ p: Profile, to relation: Relation) -> Bool {
        relation == .contact || showsLastSeen(p, to: relation)
    }

    /// About and avatar; the display name is always shown.
    public static func showsDetails(_ p: Profile, to relation: Relation) -> Bool {
        switch relation {
        case .me: return true
        case .blocked: return p.profileVisibility == .everyone
        case .contact: return p.profileVisibility != .nobody
        case .stranger: return p.profileVisibility == .everyone
        }
    }

    /// Whether the answer for a viewer who is not the user can depend on being a contact (so
    /// the front must find out).
    public static func needsContactCheck(_ p: Profile, details: Bool) -> Bool {
        p.lastSeenVisibility != .everyone || (details && p.profileVisibility == .contacts)
    }

    /// Last seen as shown: the current time while online, nil if never seen.
    static func lastSeenValue(_ p: Profile, now: Int64) -> Int64? {
        p.online ? now : (p.lastSeen > 0 ? p.lastSeen : nil)
    }

    /// `{user, online, last_seen}`: hidden online reads as offline, hidden last seen as null.
    public static func presence(_ p: Profile, to relation: Relation, now: Int64) -> JSONObject {
        let online = showsOnline(p, to: relation) && p.online
        let lastSeen = showsLastSeen(p, to: relation) ? lastSeenValue(p, now: now) : nil
        return ["user": .string(p.user), "online": .bool(online), "last_seen": lastSeen.map { .int($0) } ?? .null]
    }

    /// `{user, display_name, about, avatar, last_seen?}`; the user's own view adds the two
    /// settings. Hidden about and avatar are null, as is an avatar never set.
    public static func profile(_ p: Profile, to relation: Relation, now: Int64) -> JSONObject {
        let details = showsDetails(p, to: relation)
        var o: JSONObject = ["user": .string(p.user), "display_name": .string(p.displayName)]
        o["about"] = details ? .string(p.about) : .null
        o["avatar"] = details && !p.avatar.isEmpty ? .string(p.avatar) : .null
        if showsLastSeen(p, to: relation) { o["last_seen"] = lastSeenValue(p, now: now).map { .int($0) } ?? .null }
        if relation == .me {
            o["last_seen_visibility"] = .string(p.lastSeenVisibility.rawValue)
            o["profile_visibility"] = .string(p.profileVisibility.rawValue)
        }
        return o
    }

    /// The `presence` event for the user's contacts (every recipient of one is a contact).
    public static func presenceEvent(_ p: Profile, now: Int64) -> OutboundEvent {
        var o: JSONObject = ["type": "presence"]
        for (key, value) in presence(p, to: .contact, now: now) { o[key] = value }
        return OutboundEvent(kind: .presence, text: JSON.object(o).serialized())
    }

    /// `a_` and 1 to 78 of `[A-Za-z0-9_-]`.
    public static func isAssetID(_ id: String) -> Bool {
        let bytes = Array(id.utf8)
        guard bytes.count > 2, bytes.count <= ProfileLimits.maxAvatarBytes, bytes[0] == 0x61, bytes[1] == 0x5F else { return false }
        return bytes.dropFirst(2).allSatisfy { b in
            (b >= 0x61 && b <= 0x7A) || (b >= 0x41 && b <= 0x5A) || (b >= 0x30 && b <= 0x39) || b == 0x5F || b == 0x2D
        }
    }
}

extension WireWriter {
    mutating func write(_ p: Profile) {
        writeString(p.user); writeString(p.displayName); writeString(p.about); writeString(p.avatar)
        writeString(p.lastSeenVisibility.rawValue); writeString(p.profileVisibility.rawValue)
        writeBool(p.online); writeInt(p.lastSeen)
    }
}

extension WireReader {
    mutating func readVisibility() throws -> Visibility {
        let text = try readText()
        guard let v = Visibility(rawValue: text) else { throw ShardCodecError("unknown visibility \(text)") }
        return v
    }

    mutating func readProfile() throws -> Profile {
        Profile(user: try readText(), displayName: try readText(), about: try readText(), avatar: try readText(),
                lastSeenVisibility: try readVisibility(), profileVisibility: try readVisibility(),
                online: try readBool(), lastSeen: try readInt())
    }
}

/// A profile as read for a viewer: what the contact check needs besides the profile.
public struct ProfileRead: Sendable, Equatable {
    public var profile: Profile
    /// The user blocked the viewer.
    public var blocksViewer: Bool
    /// The two have a direct chat.
    public var direct: Bool
    /// The user's groups (at most `ProfileLimits`-bounded), for the front to intersect with
    /// the viewer's; empty when the viewer is the user.
    public var groups: [String]
}

/// `GET /v1/users/{user}` and `.../presence`: the profile (nil: no such user) and the user's
/// side of the contact check with `viewer`.
public struct ReadProfile: ShardOperation {
    public static let code = OperationCode.readProfile
    public var user: String
    public var viewer: String
    public init(user: String, viewer: String) {
        self.user = user
        self.viewer = viewer
    }
    /// Groups of the user checked for a shared one: the contact check reads each common
    /// group's shard, so it is bounded (docs/PRESENCE.md).
    public static let maxGroupsChecked = 1_000
    public var key: ShardKey { .user(user) }
    public func encode(_ w: inout WireWriter) { w.writeString(user); w.writeString(viewer) }
    public init(from r: inout WireReader) throws { self.init(user: try r.readText(), viewer: try r.readText()) }
    public static func encode(reply: ProfileRead?, _ w: inout WireWriter) {
        guard let reply else { return w.writeU8(0) }
        w.writeU8(1); w.write(reply.profile); w.writeBool(reply.blocksViewer); w.writeBool(reply.direct); w.writeStrings(reply.groups)
    }
    public static func decodeReply(_ r: inout WireReader) throws -> ProfileRead? {
        guard try r.readU8() == 1 else { return nil }
        return ProfileRead(profile: try r.readProfile(), blocksViewer: try r.readBool(), direct: try r.readBool(), groups: try r.readStrings())
    }

    public func run(in context: ShardContext) throws -> ProfileRead? {
        let store = context.store
        guard let profile = try store.profile(user) else { return nil }
        guard viewer != user else { return ProfileRead(profile: profile, blocksViewer: false, direct: false, groups: []) }
        let blocks = try store.block(user: user, blocked: viewer)?.active ?? false   // Blocks+Store.swift
        let direct = try store.inIndex(user: user, conversationID: Identifiers.directConversation(user, viewer))
        let groups = direct || blocks ? [] : try store.contactConversations(user: user, maxDirect: 0, maxGroups: Self.maxGroupsChecked).groups
        return ProfileRead(profile: profile, blocksViewer: blocks, direct: direct, groups: groups)
    }
}

/// What `PATCH /v1/users/me` changes; nil fields stay as they are. `avatar` "" clears it.
public struct ProfilePatch: Sendable, Equatable {
    public var displayName: String?
    public var about: String?
    public var avatar: String?
    public var lastSeenVisibility: Visibility?
    public var profileVisibility: Visibility?
    public init(displayName: String? = nil, about: String? = nil, avatar: String? = nil,
                lastSeenVisibility: Visibility? = nil, profileVisibility: Visibility? = nil) {
        self.displayName = displayName
        self.about = about
        self.avatar = avatar
        self.lastSeenVisibility = lastSeenVisibility
        self.profileVisibility = profileVisibility
    }

    /// The body of `PATCH /v1/users/me`, checked: 400 for a wrong type, length or value.
    public init(_ o: JSONObject) throws(ChatError) {
        if let name = try Fields.optionalString(o, "display_name", maxBytes: ChatSettings.maxDisplayNameBytes) {
            guard !name.isEmpty else { throw .badRequest("`display_name` is empty") }
            displayName = name
        }
        about = try Fields.optionalString(o, "about", maxBytes: ProfileLimits.maxAboutBytes)
        switch o["avatar"] {
        case nil: avatar = nil
        case .some(.null): avatar = ""
        case .some(.string(let id)):
            guard ProfileRules.isAssetID(id) else { throw .badRequest("`avatar` must be an asset id (a_...) or null") }
            avatar = id
        default: throw .badRequest("`avatar` must be an asset id (a_...) or null")
        }
        lastSeenVisibility = try Self.visibility(o, "last_seen_visibility")
        profileVisibility = try Self.visibility(o, "profile_visibility")
    }

    static func visibility(_ o: JSONObject, _ name: String) throws(ChatError) -> Visibility? {
        guard let text = try Fields.optionalString(o, name, maxBytes: 16) else { return nil }
        guard let v = Visibility(rawValue: text) else { throw .badRequest("`\(name)` must be everyone, contacts or nobody") }
        return v
    }

    func applied(to p: Profile) -> Profile {
        var p = p
        if let displayName { p.displayName = displayName }
        if let about { p.about = about }
        if let avatar { p.avatar = avatar }
        if let lastSeenVisibility { p.lastSeenVisibility = lastSeenVisibility }
        if let profileVisibility { p.profileVisibility = profileVisibility }
        return p
    }
}

/// `PATCH /v1/users/me`: the changed profile, or `not_found` for an unknown user.
public struct UpdateProfile: ShardOperation {
    public static let code = OperationCode.updateProfile
    public var user: String
    public var patch: ProfilePatch
    public init(user: String, patch: ProfilePatch) {
        self.user = user
        self.patch = patch
    }
    public var key: ShardKey { .user(user) }
    public func encode(_ w: inout WireWriter) {
        w.writeString(user)
        w.writeOptionalString(patch.displayName); w.writeOptionalString(patch.about); w.writeOptionalString(patch.avatar)
        w.writeOptionalString(patch.lastSeenVisibility?.rawValue); w.writeOptionalString(patch.profileVisibility?.rawValue)
    }
    public init(from r: inout WireReader) throws {
        user = try r.readText()
        patch = ProfilePatch(displayName: try r.readOptionalString(), about: try r.readOptionalString(), avatar: try r.readOptionalString())
        func visibility(_ text: String?) throws -> Visibility? {
            guard let text else { return nil }
            guard let v = Visibility(rawValue: text) else { throw ShardCodecError("unknown visibility \(text)") }
            return v
        }
        patch.lastSeenVisibility = try visibility(r.readOptionalString())
        patch.profileVisibility = try visibility(r.readOptionalString())
    }
    public static func encode(reply: Profile, _ w: inout WireWriter) { w.write(reply) }
    public static func decodeReply(_ r: inout WireReader) throws -> Profile { try r.readProfile() }

    public func run(in context: ShardContext) throws -> Profile {
        guard let before = try context.store.profile(user) else { throw ChatError(.notFound, "no user \(user)") }
        let after = patch.applied(to: before)
        if after != before { try context.store.saveProfile(after) }
        return after
    }
}
