import Store
import Wire

// Presence, decided on the user's shard: `online` and `last_seen` are stored there, and only
// the shard's primary changes them (the cluster's `PresenceTracker` calls `SetPresence` with
// what its connection directory says), so nodes that see a connection come and go at different
// moments never make the stored state flap. A transition answers who should hear of it (the
// user's contacts); the tracker reads the groups' current members (`PresenceAudience`), keeps
// those online and pushes one `presence` event each. docs/PRESENCE.md.

public enum PresenceLimits {
    /// Groups of a user whose members hear of the user's transitions: a user in more groups
    /// reaches the members of the first ones (by id) only, so one transition costs at most
    /// this many reads of other shards.
    public static let maxGroupsPerTransition = 100
    /// Groups larger than this send no presence events (members may still read a member's
    /// presence): a group of n members online together would cost n² events per reconnect
    /// wave. 256 keeps that near 65,000, as for a group's creation (ChatSettings).
    public static let maxGroupMembers = 256
    /// Direct-chat partners told of one transition (the first, by chat id): a creator with a
    /// mass-message list can have 100,000 direct chats, and a transition's cost must stay
    /// bounded (docs/PRESENCE.md).
    public static let maxPartnersPerTransition = 10_000
    /// Users in one `SetPresence` (the tracker groups a directory snapshot's users by shard).
    public static let maxUpdatesPerCall = 500
}

public struct PresenceUpdate: Sendable, Equatable {
    public var user: String
    public var online: Bool
    public init(user: String, online: Bool) {
        self.user = user
        self.online = online
    }
}

/// A transition and whom to tell: the event (last seen as the user's setting allows for
/// contacts), the direct-chat partners, and the groups whose members to ask for; `hidden`
/// are users the user blocked, who hear nothing of it.
public struct PresenceFanout: Sendable, Equatable {
    public var user: String
    public var online: Bool
    public var eventText: String
    public var partners: [String]
    public var groups: [String]
    public var hidden: [String]
}

/// Stores each user's presence if it changed (a repeat of the stored state writes nothing and
/// answers nothing); going offline stores `last_seen`. All users are on the shard of the first
/// (the tracker groups them so); a user not on it, or unknown, is skipped.
public struct SetPresence: ShardOperation {
    public static let code = OperationCode.setPresence
    public var updates: [PresenceUpdate]
    public init(_ updates: [PresenceUpdate]) { self.updates = updates }
    public var key: ShardKey { .user(updates.first?.user ?? "") }
    public func encode(_ w: inout WireWriter) {
        w.writeList(updates) { u, w in w.writeString(u.user); w.writeBool(u.online) }
    }
    public init(from r: inout WireReader) throws {
        updates = try r.readList(minBytes: 5) { r in PresenceUpdate(user: try r.readText(), online: try r.readBool()) }
    }
    public static func encode(reply: [PresenceFanout], _ w: inout WireWriter) {
        w.writeList(reply) { f, w in
            w.writeString(f.user); w.writeBool(f.online); w.writeString(f.eventText)
            w.writeStrings(f.partners); w.writeStrings(f.groups); w.writeStrings(f.hidden)
        }
    }
    public static func decodeReply(_ r: inout WireReader) throws -> [PresenceFanout] {
        try r.readList(minBytes: 21) { r in
            PresenceFanout(user: try r.readText(), online: try r.readBool(), eventText: try r.readText(),
                           partners: try r.readStrings(), groups: try r.readStrings(), hidden: try r.readStrings())
        }
    }

    public func run(in context: ShardContext) throws -> [PresenceFanout] {
        let store = context.store
        var out: [PresenceFanout] = []
        for update in updates {
            guard var profile = try store.profile(update.user), profile.online != update.online else { continue }
            profile.online = update.online
            if !update.online { profile.lastSeen = context.now }
            try store.setPresence(user: profile.user, online: profile.online, lastSeen: profile.lastSeen)
            let contacts = try store.contactConversations(user: profile.user, maxDirect: PresenceLimits.maxPartnersPerTransition,
                                                          maxGroups: PresenceLimits.maxGroupsPerTransition)
            let hidden = Set(try store.blockedUsers(user: profile.user))   // Blocks+Store.swift
            var partners: [String] = []
            for id in contacts.direct {
                guard let (a, b) = Identifiers.directMembers(id) else { continue }
                let other = a == profile.user ? b : a
                if other != profile.user && !hidden.contains(other) { partners.append(other) }
            }
            out.append(PresenceFanout(user: profile.user, online: profile.online,
                                      eventText: ProfileRules.presenceEvent(profile, now: context.now).text,
                                      partners: partners, groups: contacts.groups,
                                      hidden: contacts.groups.isEmpty ? [] : hidden.sorted()))
        }
        return out
    }
}

/// The current members of a group who hear of `user`'s presence: all of them if `user` is a
/// current member and the group has at most `PresenceLimits.maxGroupMembers`; else none.
public struct PresenceAudience: ShardOperation {
    public static let code = OperationCode.presenceAudience
    public var conversationID: String
    public var user: String
    public init(conversationID: String, user: String) {
        self.conversationID = conversationID
        self.user = user
    }
    public var key: ShardKey { .conversation(conversationID) }
    public func encode(_ w: inout WireWriter) { w.writeString(conversationID); w.writeString(user) }
    public init(from r: inout WireReader) throws { self.init(conversationID: try r.readText(), user: try r.readText()) }
    public static func encode(reply: [String], _ w: inout WireWriter) { w.writeStrings(reply) }
    public static func decodeReply(_ r: inout WireReader) throws -> [String] { try r.readStrings() }
    public func run(in context: ShardContext) throws -> [String] {
        let members = try context.store.currentMemberIDs(conversationID: conversationID)   // cached per shard
        guard members.count <= PresenceLimits.maxGroupMembers, members.contains(user) else { return [] }
        return members
    }
}

/// Whether every one of `users` is a current member of the conversation (the contact check's
/// last step: a group both are in now).
public struct AreMembers: ShardOperation {
    public static let code = OperationCode.areMembers
    public var conversationID: String
    public var users: [String]
    public init(conversationID: String, users: [String]) {
        self.conversationID = conversationID
        self.users = users
    }
    public var key: ShardKey { .conversation(conversationID) }
    public func encode(_ w: inout WireWriter) { w.writeString(conversationID); w.writeStrings(users) }
    public init(from r: inout WireReader) throws { self.init(conversationID: try r.readText(), users: try r.readStrings()) }
    public static func encode(reply: Bool, _ w: inout WireWriter) { w.writeBool(reply) }
    public static func decodeReply(_ r: inout WireReader) throws -> Bool { try r.readBool() }
    public func run(in context: ShardContext) throws -> Bool {
        let store = context.store
        for user in users {
            guard let member = try store.member(conversationID: conversationID, user: user), member.leftSeq == nil else { return false }
        }
        return true
    }
}
