import JSON
import Store
import Wire

// Groups, on the group's conversation shard: creating one, its members and their roles, its
// title and history setting, and the `system` messages that record every change in the
// conversation's order (PROTOCOL.md "Group changes"). Members are listed in their users'
// conversation indexes through the outbox (`IndexMembers`). The front's side is in
// ChatService+Groups.swift; invite links are in Invites.swift.

/// A group as `GET /v1/groups/{id}` shows it: the current members (a removed or departed
/// member is not listed).
public struct GroupInfo: Sendable, Equatable {
    public var conversationID: String
    public var title: String
    public var historyVisible: Bool
    public var members: [MemberRecord]
}

/// What a group rule checks and writes, shared by the rules below and by invites.
enum GroupRules {
    static let maxTitleBytes = 256

    /// The group, or `not_found` (also for a direct chat's id: it is no group).
    static func group(_ id: String, in store: ShardStore) throws -> ConversationRecord {
        guard let conversation = try store.conversation(id), conversation.kind == ConversationKind.group.rawValue else {
            throw ChatError(.notFound, "no group \(id)")
        }
        return conversation
    }

    /// A current member (not removed, not departed), or `not_found`: to anyone outside it, a
    /// group does not exist.
    static func currentMember(_ user: String, of id: String, in store: ShardStore) throws -> MemberRecord {
        guard let member = try store.member(conversationID: id, user: user), member.leftSeq == nil else {
            throw ChatError(.notFound, "no group \(id)")
        }
        return member
    }

    static func admin(_ user: String, of id: String, in store: ShardStore) throws -> MemberRecord {
        let member = try currentMember(user, of: id, in: store)
        guard member.role == MemberRole.admin.rawValue else { throw ChatError(.forbidden, "only admins may do this in \(id)") }
        return member
    }

    /// How long a change's request id is remembered: a late attempt of a request retried within
    /// this is recognised (and changes nothing).
    static let requestMemoryMs: Int64 = 24 * 3600 * 1000

    /// Whether the change with this request id was applied already (a late copy of a request
    /// its client retried, which must not apply twice, e.g. a removal after a re-add).
    static func seen(_ requestID: String?, in id: String, context: ShardContext) throws -> Bool {
        guard let requestID else { return false }
        return try context.store.groupRequestSeen(conversationID: id, requestID: requestID)
    }

    /// Notes the request id of a change just applied, in its transaction: the rule's last write,
    /// after every check that could refuse (a rule never throws after writing).
    static func remember(_ requestID: String?, in id: String, context: ShardContext) throws {
        guard let requestID else { return }
        try context.store.noteGroupRequest(conversationID: id, requestID: requestID, now: context.now,
                                           forgetBefore: context.now - requestMemoryMs)
    }

    static func currentMembers(of id: String, in store: ShardStore) throws -> [MemberRecord] {
        try store.members(conversationID: id).filter { $0.leftSeq == nil }
    }

    /// Appends a `system` message recording `event` (its body is the JSON text PROTOCOL.md
    /// gives) with the conversation's next seq and pushes it to `recipients`. Its sender is
    /// the member who caused it; its client id is unique to it.
    @discardableResult
    static func record(_ event: String, user: String, by: String, extra: JSONObject = [:], in conversationID: String,
                       context: ShardContext, to recipients: [String]) throws -> StoredMessage {
        let store = context.store
        guard let conversation = try store.conversation(conversationID) else { throw ChatError(.notFound, "no group \(conversationID)") }
        var body: JSONObject = ["event": .string(event), "user": .string(user), "by": .string(by)]
        for (key, value) in extra { body[key] = value }
        let messageID = context.newID("m_")
        let message = StoredMessage(
            conversationID: conversationID, seq: conversation.lastSeq + 1, messageID: messageID, sender: by,
            clientID: "system:" + messageID, ts: max(context.now, conversation.lastTs), kind: MessageKind.system.rawValue,
            body: JSON.object(body).serialized(), attachments: [], tip: nil)
        try store.insertMessage(message)
        try store.setLastSeq(conversationID: conversationID, seq: message.seq, ts: message.ts)
        context.push(EventJSON.messageEvent(message), to: recipients)
        return message
    }

    /// Makes `user` a current member (new, or back after leaving) as of the conversation's
    /// last seq, and lists the group in their index (through the outbox, the reply waiting
    /// for it). Checks the size limit first. Returns false when they already are a member.
    static func join(_ user: String, group: ConversationRecord, limit: Int, context: ShardContext) throws -> Bool {
        let store = context.store
        if let member = try store.member(conversationID: group.id, user: user), member.leftSeq == nil {
            // A retry may still be indexing this user: the answer waits for that, as the first did.
            let job = Self.joinJob(group.id, user, member.joinedSeq)
            if try store.job(job) != nil { context.awaitJob(id: job) }
            return false
        }
        let count = try store.currentMemberCount(conversationID: group.id)
        guard count < limit else {
            throw ChatError(.conflict, "\(group.id) has \(count) members, the most a group may have")
        }
        try store.setMember(conversationID: group.id, user: user, role: MemberRole.member.rawValue, joinedSeq: group.lastSeq)
        let job = IndexMembers(conversationID: group.id, users: [user])
        try context.enqueue(job, id: joinJob(group.id, user, group.lastSeq), origin: .conversation(group.id), replyWhenDone: true)
        return true
    }

    static func joinJob(_ id: String, _ user: String, _ joinedSeq: Int64) -> String { "members:\(id):\(user):\(joinedSeq)" }
}

/// Makes a group with its creator as admin and the given members, and records `created`
/// then a `member_added` per member. The front made the id and checked that the members exist.
/// A repeat (the router's retry after a failover) finds the group made and changes nothing.
public struct CreateGroup: ShardOperation {
    public static let code = OperationCode.createGroup
    public var conversationID: String
    public var creator: String
    public var title: String
    public var members: [String]
    public var historyVisible: Bool
    public init(conversationID: String, creator: String, title: String, members: [String], historyVisible: Bool) {
        self.conversationID = conversationID
        self.creator = creator
        self.title = title
        self.members = members
        self.historyVisible = historyVisible
    }
    public var key: ShardKey { .conversation(conversationID) }
    public func encode(_ w: inout WireWriter) {
        w.writeString(conversationID); w.writeString(creator); w.writeString(title); w.writeStrings(members); w.writeBool(historyVisible)
    }
    public init(from r: inout WireReader) throws {
        self.init(conversationID: try r.readText(), creator: try r.readText(), title: try r.readText(), members: try r.readStrings(),
                  historyVisible: try r.readBool())
    }
    public static func encode(reply: Done, _ w: inout WireWriter) {}
    public static func decodeReply(_ r: inout WireReader) throws -> Done { Done() }

    public func run(in context: ShardContext) throws -> Done {
        let store = context.store, id = conversationID
        guard try store.insertConversation(id: id, kind: ConversationKind.group.rawValue, title: title,
                                           historyVisible: historyVisible, now: context.now) else {
            let job = "members:\(id):created"
            if try store.job(job) != nil { context.awaitJob(id: job) }
            return Done()
        }
        let others = Array(Set(members).subtracting([creator])).sorted()
        try store.insertMember(conversationID: id, user: creator, role: MemberRole.admin.rawValue, joinedSeq: 0)
        for user in others {
            try store.insertMember(conversationID: id, user: user, role: MemberRole.member.rawValue, joinedSeq: 0)
        }
        let everyone = [creator] + others
        try GroupRules.record("created", user: creator, by: creator, extra: ["title": .string(title)], in: id,
                              context: context, to: everyone)
        for user in others {
            try GroupRules.record("member_added", user: user, by: creator, in: id, context: context, to: everyone)
        }
        let job = IndexMembers(conversationID: id, users: everyone)
        try context.enqueue(job, id: "members:\(id):created", origin: key, replyWhenDone: true)
        return Done()
    }
}

/// The group with its current members, for a current member.
public struct ReadGroup: ShardOperation {
    public static let code = OperationCode.readGroup
    public var conversationID: String
    public var reader: String
    public init(conversationID: String, reader: String) {
        self.conversationID = conversationID
        self.reader = reader
    }
    public var key: ShardKey { .conversation(conversationID) }
    public func encode(_ w: inout WireWriter) { w.writeString(conversationID); w.writeString(reader) }
    public init(from r: inout WireReader) throws { self.init(conversationID: try r.readText(), reader: try r.readText()) }
    public static func encode(reply g: GroupInfo, _ w: inout WireWriter) {
        w.writeString(g.conversationID); w.writeString(g.title); w.writeBool(g.historyVisible)
        w.writeList(g.members) { m, w in
            w.writeString(m.user); w.writeString(m.role); w.writeInt(m.joinedSeq); w.writeInt(m.delivered); w.writeInt(m.read)
        }
    }
    public static func decodeReply(_ r: inout WireReader) throws -> GroupInfo {
        let id = try r.readText(), title = try r.readText(), historyVisible = try r.readBool()
        let members = try r.readList(minBytes: 32) { r in
            MemberRecord(conversationID: id, user: try r.readText(), role: try r.readText(), joinedSeq: try r.readInt(),
                         leftSeq: nil, delivered: try r.readInt(), read: try r.readInt())
        }
        return GroupInfo(conversationID: id, title: title, historyVisible: historyVisible, members: members)
    }

    public func run(in context: ShardContext) throws -> GroupInfo {
        let store = context.store
        let group = try GroupRules.group(conversationID, in: store)
        _ = try GroupRules.currentMember(reader, of: conversationID, in: store)
        return GroupInfo(conversationID: conversationID, title: group.title, historyVisible: group.historyVisible,
                         members: try GroupRules.currentMembers(of: conversationID, in: store))
    }
}

/// An admin adds a user (who the front checked exists). Adding a current member changes
/// nothing; a former member comes back with a new `joined_seq`.
public struct AddMember: ShardOperation {
    public static let code = OperationCode.addMember
    public var conversationID: String
    public var by: String
    public var user: String
    /// The cluster's group size limit (`ChatSettings.maxGroupMembers`).
    public var limit: Int
    /// The client's id for this change, if it sent one: a retried request applies once.
    public var requestID: String?
    public init(conversationID: String, by: String, user: String, limit: Int, requestID: String? = nil) {
        self.conversationID = conversationID
        self.by = by
        self.user = user
        self.limit = limit
        self.requestID = requestID
    }
    public var key: ShardKey { .conversation(conversationID) }
    public func encode(_ w: inout WireWriter) {
        w.writeString(conversationID); w.writeString(by); w.writeString(user); w.writeU32(UInt32(clamping: limit))
        w.writeOptionalString(requestID)
    }
    public init(from r: inout WireReader) throws {
        self.init(conversationID: try r.readText(), by: try r.readText(), user: try r.readText(), limit: Int(try r.readU32()),
                  requestID: try r.readOptionalString())
    }
    public static func encode(reply: Done, _ w: inout WireWriter) {}
    public static func decodeReply(_ r: inout WireReader) throws -> Done { Done() }

    public func run(in context: ShardContext) throws -> Done {
        let store = context.store
        let group = try GroupRules.group(conversationID, in: store)
        _ = try GroupRules.admin(by, of: conversationID, in: store)
        if try GroupRules.seen(requestID, in: conversationID, context: context) { return Done() }
        guard try GroupRules.join(user, group: group, limit: limit, context: context) else { return Done() }
        let everyone = try GroupRules.currentMembers(of: conversationID, in: store).map(\.user)
        try GroupRules.record("member_added", user: user, by: by, in: conversationID, context: context, to: everyone)
        try GroupRules.remember(requestID, in: conversationID, context: context)
        return Done()
    }
}

/// An admin removes a member, or a member leaves (`by == user`). The member keeps what was
/// written up to and including the `system` message that records it, and nothing after. When
/// the last admin goes, the longest-standing member becomes admin.
public struct RemoveMember: ShardOperation {
    public static let code = OperationCode.removeMember
    public var conversationID: String
    public var by: String
    public var user: String
    public var requestID: String?
    public init(conversationID: String, by: String, user: String, requestID: String? = nil) {
        self.conversationID = conversationID
        self.by = by
        self.user = user
        self.requestID = requestID
    }
    public var key: ShardKey { .conversation(conversationID) }
    public func encode(_ w: inout WireWriter) {
        w.writeString(conversationID); w.writeString(by); w.writeString(user); w.writeOptionalString(requestID)
    }
    public init(from r: inout WireReader) throws {
        self.init(conversationID: try r.readText(), by: try r.readText(), user: try r.readText(), requestID: try r.readOptionalString())
    }
    public static func encode(reply: Done, _ w: inout WireWriter) {}
    public static func decodeReply(_ r: inout WireReader) throws -> Done { Done() }

    public func run(in context: ShardContext) throws -> Done {
        let store = context.store
        _ = try GroupRules.group(conversationID, in: store)
        if by == user {
            // Leaving twice (a retry) is done already.
            guard let member = try store.member(conversationID: conversationID, user: user) else {
                throw ChatError(.notFound, "no group \(conversationID)")
            }
            if member.leftSeq != nil { return Done() }
        } else {
            _ = try GroupRules.admin(by, of: conversationID, in: store)
            guard let member = try store.member(conversationID: conversationID, user: user) else {
                throw ChatError(.notFound, "\(user) is not a member of \(conversationID)")
            }
            if member.leftSeq != nil { return Done() }
        }
        if try GroupRules.seen(requestID, in: conversationID, context: context) { return Done() }
        let before = try GroupRules.currentMembers(of: conversationID, in: store)
        let event = by == user ? "member_left" : "member_removed"
        let message = try GroupRules.record(event, user: user, by: by, in: conversationID, context: context, to: before.map(\.user))
        try store.setLeft(conversationID: conversationID, user: user, seq: message.seq, role: MemberRole.member.rawValue)
        let remaining = before.filter { $0.user != user }
        if !remaining.isEmpty, !remaining.contains(where: { $0.role == MemberRole.admin.rawValue }) {
            // The oldest member: joined first; ties (the founding members) by name.
            let heir = remaining.min { ($0.joinedSeq, $0.user) < ($1.joinedSeq, $1.user) }!
            try store.setRole(conversationID: conversationID, user: heir.user, role: MemberRole.admin.rawValue)
            try GroupRules.record("role_changed", user: heir.user, by: by, extra: ["role": .string(MemberRole.admin.rawValue)],
                                  in: conversationID, context: context, to: remaining.map(\.user))
        }
        try GroupRules.remember(requestID, in: conversationID, context: context)
        return Done()
    }
}

/// An admin makes a member an admin or a plain member. A group keeps at least one admin.
public struct SetRole: ShardOperation {
    public static let code = OperationCode.setRole
    public var conversationID: String
    public var by: String
    public var user: String
    public var role: MemberRole
    public var requestID: String?
    public init(conversationID: String, by: String, user: String, role: MemberRole, requestID: String? = nil) {
        self.conversationID = conversationID
        self.by = by
        self.user = user
        self.role = role
        self.requestID = requestID
    }
    public var key: ShardKey { .conversation(conversationID) }
    public func encode(_ w: inout WireWriter) {
        w.writeString(conversationID); w.writeString(by); w.writeString(user); w.writeString(role.rawValue)
        w.writeOptionalString(requestID)
    }
    public init(from r: inout WireReader) throws {
        let id = try r.readText(), by = try r.readText(), user = try r.readText()
        guard let role = MemberRole(rawValue: try r.readText()) else { throw ShardCodecError("unknown role") }
        self.init(conversationID: id, by: by, user: user, role: role, requestID: try r.readOptionalString())
    }
    public static func encode(reply: Done, _ w: inout WireWriter) {}
    public static func decodeReply(_ r: inout WireReader) throws -> Done { Done() }

    public func run(in context: ShardContext) throws -> Done {
        let store = context.store
        _ = try GroupRules.group(conversationID, in: store)
        _ = try GroupRules.admin(by, of: conversationID, in: store)
        guard let member = try store.member(conversationID: conversationID, user: user), member.leftSeq == nil else {
            throw ChatError(.notFound, "\(user) is not a member of \(conversationID)")
        }
        guard member.role != role.rawValue else { return Done() }
        if try GroupRules.seen(requestID, in: conversationID, context: context) { return Done() }
        let members = try GroupRules.currentMembers(of: conversationID, in: store)
        if role == .member, members.filter({ $0.role == MemberRole.admin.rawValue }).count == 1 {
            throw ChatError(.conflict, "\(user) is the only admin of \(conversationID): make another admin first")
        }
        try store.setRole(conversationID: conversationID, user: user, role: role.rawValue)
        try GroupRules.record("role_changed", user: user, by: by, extra: ["role": .string(role.rawValue)], in: conversationID,
                              context: context, to: members.map(\.user))
        try GroupRules.remember(requestID, in: conversationID, context: context)
        return Done()
    }
}

/// An admin renames the group or turns its history for new members on or off; answers the
/// group as it then is.
public struct UpdateGroup: ShardOperation {
    public static let code = OperationCode.updateGroup
    public var conversationID: String
    public var by: String
    public var title: String?
    public var historyVisible: Bool?
    public var requestID: String?
    public init(conversationID: String, by: String, title: String?, historyVisible: Bool?, requestID: String? = nil) {
        self.conversationID = conversationID
        self.by = by
        self.title = title
        self.historyVisible = historyVisible
        self.requestID = requestID
    }
    public var key: ShardKey { .conversation(conversationID) }
    public func encode(_ w: inout WireWriter) {
        w.writeString(conversationID); w.writeString(by); w.writeOptionalString(title)
        w.writeOptionalInt(historyVisible.map { $0 ? 1 : 0 }); w.writeOptionalString(requestID)
    }
    public init(from r: inout WireReader) throws {
        self.init(conversationID: try r.readText(), by: try r.readText(), title: try r.readOptionalString(),
                  historyVisible: try r.readOptionalInt().map { $0 != 0 }, requestID: try r.readOptionalString())
    }
    public static func encode(reply: GroupInfo, _ w: inout WireWriter) { ReadGroup.encode(reply: reply, &w) }
    public static func decodeReply(_ r: inout WireReader) throws -> GroupInfo { try ReadGroup.decodeReply(&r) }

    public func run(in context: ShardContext) throws -> GroupInfo {
        let store = context.store
        let group = try GroupRules.group(conversationID, in: store)
        _ = try GroupRules.admin(by, of: conversationID, in: store)
        let members = try GroupRules.currentMembers(of: conversationID, in: store)
        if try GroupRules.seen(requestID, in: conversationID, context: context) {
            return try ReadGroup(conversationID: conversationID, reader: by).run(in: context)
        }
        if let title, title != group.title {
            try store.setGroup(conversationID: conversationID, title: title, historyVisible: group.historyVisible)
            try GroupRules.record("title_changed", user: by, by: by, extra: ["title": .string(title)], in: conversationID,
                                  context: context, to: members.map(\.user))
        }
        if let historyVisible, historyVisible != group.historyVisible {
            try store.setGroup(conversationID: conversationID, title: title ?? group.title, historyVisible: historyVisible)
        }
        try GroupRules.remember(requestID, in: conversationID, context: context)
        return try ReadGroup(conversationID: conversationID, reader: by).run(in: context)
    }
}

/// The outbox job that lists a group in its members' conversation indexes (idempotent
/// writes on their user shards), a batch at a time; progress is how many are done.
public struct IndexMembers: OutboxJob {
    public static let kind = JobKind.indexMembers
    static let batch = 200
    public var conversationID: String
    public var users: [String]
    public init(conversationID: String, users: [String]) {
        self.conversationID = conversationID
        self.users = users
    }
    public init(payload: [UInt8]) throws {
        var r = WireReader(payload)
        conversationID = try r.readText()
        users = try r.readStrings()
    }
    public var payload: [UInt8] {
        var w = WireWriter()
        w.writeString(conversationID); w.writeStrings(users)
        return w.bytes
    }

    public func step(progress: [UInt8]?, context: JobContext, done: @escaping (JobStep) -> Void) {
        var r = WireReader(progress ?? [])
        let from = (try? r.readU32()).map(Int.init) ?? 0
        let slice = Array(users.dropFirst(from).prefix(Self.batch))
        guard !slice.isEmpty else { return done(.finished) }
        context.router.callAll(slice.map { AddToIndex(user: $0, conversationID: conversationID) }) { results in
            for case .failure(let error) in results { return done(.failed(error)) }
            let next = from + slice.count
            if next >= users.count { return done(.finished) }
            var w = WireWriter()
            w.writeU32(UInt32(next))
            done(.progressed(w.bytes))
        }
    }
}

extension ShardStore {
    func currentMemberCount(conversationID: String) throws(StoreError) -> Int {
        Int(try db.queryOne("SELECT count(*) FROM members WHERE conversation_id=? AND left_seq IS NULL",
                            .text(conversationID))?.int(0) ?? 0)
    }

    /// A member row as of joining: new, or a former member's row made current again (cursors
    /// kept: they never go back).
    func setMember(conversationID: String, user: String, role: String, joinedSeq: Int64) throws(StoreError) {
        membersChanged(conversationID)
        try write("""
            INSERT INTO members(conversation_id, user, role, joined_seq) VALUES(?,?,?,?)
            ON CONFLICT(conversation_id, user) DO UPDATE SET role=excluded.role, joined_seq=excluded.joined_seq, left_seq=NULL
            """, .text(conversationID), .text(user), .text(role), .int(joinedSeq))
    }

    func setLeft(conversationID: String, user: String, seq: Int64, role: String) throws(StoreError) {
        membersChanged(conversationID)
        try write("UPDATE members SET left_seq=?, role=? WHERE conversation_id=? AND user=?",
                  .int(seq), .text(role), .text(conversationID), .text(user))
    }

    func setRole(conversationID: String, user: String, role: String) throws(StoreError) {
        try write("UPDATE members SET role=? WHERE conversation_id=? AND user=?", .text(role), .text(conversationID), .text(user))
    }

    func groupRequestSeen(conversationID: String, requestID: String) throws(StoreError) -> Bool {
        try db.queryOne("SELECT 1 FROM group_requests WHERE conversation_id=? AND request_id=?",
                        .text(conversationID), .text(requestID)) != nil
    }

    /// Notes a request id, and forgets a few of the group's ids older than `forgetBefore`
    /// (bounded work per change).
    func noteGroupRequest(conversationID: String, requestID: String, now: Int64, forgetBefore: Int64) throws(StoreError) {
        try write("""
            DELETE FROM group_requests WHERE conversation_id=? AND request_id IN
            (SELECT request_id FROM group_requests WHERE conversation_id=? AND at<? LIMIT 4)
            """, .text(conversationID), .text(conversationID), .int(forgetBefore))
        try write("INSERT INTO group_requests(conversation_id, request_id, at) VALUES(?,?,?)",
                  .text(conversationID), .text(requestID), .int(now))
    }

    func setGroup(conversationID: String, title: String, historyVisible: Bool) throws(StoreError) {
        try write("UPDATE conversations SET title=?, history_visible=? WHERE id=?",
                  .text(title), .int(historyVisible ? 1 : 0), .text(conversationID))
    }
}
