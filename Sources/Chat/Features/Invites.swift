import Hashing
import Store
import Wire

// Invite links, on the group's shard: admins make codes (with a use limit and an expiry),
// list and revoke them; anyone with a code joins once. A code names its group (so any node
// finds the group's shard from the code alone) and carries 128 random bits, made by the front
// from the system's random source: it cannot be guessed.

public struct Invite: Sendable, Equatable {
    public var code: String
    public var conversationID: String
    public var createdBy: String
    public var maxUses: Int64?
    public var uses: Int64
    public var expiresAt: Int64?
    public var revoked: Bool
}

public enum InviteCodes {
    /// `<the group id without "grp:">.<32 hex digits>`.
    public static func make(conversationID: String, secret: [UInt8]) -> String {
        String(conversationID.dropFirst(4)) + "." + Hex.encode(secret)
    }

    /// The group a well-formed code names, or nil.
    public static func conversation(of code: String) -> String? {
        let parts = code.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 2, parts[1].utf8.count == 32,
              parts[1].utf8.allSatisfy({ ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x61 && $0 <= 0x66) }) else { return nil }
        let id = "grp:" + parts[0]
        return Identifiers.isValidConversation(id) ? id : nil
    }
}

extension WireWriter {
    mutating func write(_ invite: Invite) {
        writeString(invite.code); writeString(invite.conversationID); writeString(invite.createdBy)
        writeOptionalInt(invite.maxUses); writeInt(invite.uses); writeOptionalInt(invite.expiresAt); writeBool(invite.revoked)
    }
}

extension WireReader {
    mutating func readInvite() throws -> Invite {
        Invite(code: try readText(), conversationID: try readText(), createdBy: try readText(), maxUses: try readOptionalInt(),
               uses: try readInt(), expiresAt: try readOptionalInt(), revoked: try readBool())
    }
}

/// An admin makes an invite code (the front chose it).
public struct CreateInvite: ShardOperation {
    public static let code = OperationCode.createInvite
    public var conversationID: String
    public var by: String
    public var inviteCode: String
    public var maxUses: Int64?
    public var expiresInS: Int64?
    public init(conversationID: String, by: String, inviteCode: String, maxUses: Int64?, expiresInS: Int64?) {
        self.conversationID = conversationID
        self.by = by
        self.inviteCode = inviteCode
        self.maxUses = maxUses
        self.expiresInS = expiresInS
    }
    public var key: ShardKey { .conversation(conversationID) }
    public func encode(_ w: inout WireWriter) {
        w.writeString(conversationID); w.writeString(by); w.writeString(inviteCode); w.writeOptionalInt(maxUses)
        w.writeOptionalInt(expiresInS)
    }
    public init(from r: inout WireReader) throws {
        self.init(conversationID: try r.readText(), by: try r.readText(), inviteCode: try r.readText(),
                  maxUses: try r.readOptionalInt(), expiresInS: try r.readOptionalInt())
    }
    public static func encode(reply: Invite, _ w: inout WireWriter) { w.write(reply) }
    public static func decodeReply(_ r: inout WireReader) throws -> Invite { try r.readInvite() }

    public func run(in context: ShardContext) throws -> Invite {
        let store = context.store
        _ = try GroupRules.group(conversationID, in: store)
        _ = try GroupRules.admin(by, of: conversationID, in: store)
        guard InviteCodes.conversation(of: inviteCode) == conversationID else { throw ChatError.badRequest("malformed invite code") }
        if let existing = try store.invite(inviteCode) { return existing }   // a retried request
        let invite = Invite(code: inviteCode, conversationID: conversationID, createdBy: by, maxUses: maxUses, uses: 0,
                            expiresAt: expiresInS.map { context.now + $0 * 1_000 }, revoked: false)
        try store.insertInvite(invite, now: context.now)
        return invite
    }
}

/// A group's invites that still work or may (not revoked), for an admin.
public struct ListInvites: ShardOperation {
    public static let code = OperationCode.listInvites
    public var conversationID: String
    public var by: String
    public init(conversationID: String, by: String) {
        self.conversationID = conversationID
        self.by = by
    }
    public var key: ShardKey { .conversation(conversationID) }
    public func encode(_ w: inout WireWriter) { w.writeString(conversationID); w.writeString(by) }
    public init(from r: inout WireReader) throws { self.init(conversationID: try r.readText(), by: try r.readText()) }
    public static func encode(reply: [Invite], _ w: inout WireWriter) { w.writeList(reply) { i, w in w.write(i) } }
    public static func decodeReply(_ r: inout WireReader) throws -> [Invite] { try r.readList(minBytes: 40) { try $0.readInvite() } }

    public func run(in context: ShardContext) throws -> [Invite] {
        _ = try GroupRules.group(conversationID, in: context.store)
        _ = try GroupRules.admin(by, of: conversationID, in: context.store)
        return try context.store.invites(conversationID: conversationID)
    }
}

/// An admin revokes a code: accepting it is then `not_found`. Revoking twice is fine.
public struct RevokeInvite: ShardOperation {
    public static let code = OperationCode.revokeInvite
    public var inviteCode: String
    public var by: String
    public init(inviteCode: String, by: String) {
        self.inviteCode = inviteCode
        self.by = by
    }
    public var key: ShardKey { .conversation(InviteCodes.conversation(of: inviteCode) ?? "") }
    public func encode(_ w: inout WireWriter) { w.writeString(inviteCode); w.writeString(by) }
    public init(from r: inout WireReader) throws { self.init(inviteCode: try r.readText(), by: try r.readText()) }
    public static func encode(reply: Done, _ w: inout WireWriter) {}
    public static func decodeReply(_ r: inout WireReader) throws -> Done { Done() }

    public func run(in context: ShardContext) throws -> Done {
        let store = context.store
        guard let invite = try store.invite(inviteCode) else { throw ChatError(.notFound, "no invite \(inviteCode)") }
        _ = try GroupRules.admin(by, of: invite.conversationID, in: store)
        if !invite.revoked { try store.revokeInvite(inviteCode) }
        return Done()
    }
}

/// A user joins a group with a code. A current member (a repeated accept, or one who joined
/// otherwise) gets the group's id and uses nothing. Unknown or revoked: `not_found`; expired
/// or used up: `conflict`; nothing changes then.
public struct AcceptInvite: ShardOperation {
    public static let code = OperationCode.acceptInvite
    public var inviteCode: String
    public var user: String
    public var limit: Int
    public var requestID: String?
    public init(inviteCode: String, user: String, limit: Int, requestID: String? = nil) {
        self.inviteCode = inviteCode
        self.user = user
        self.limit = limit
        self.requestID = requestID
    }
    public var key: ShardKey { .conversation(InviteCodes.conversation(of: inviteCode) ?? "") }
    public func encode(_ w: inout WireWriter) {
        w.writeString(inviteCode); w.writeString(user); w.writeU32(UInt32(clamping: limit)); w.writeOptionalString(requestID)
    }
    public init(from r: inout WireReader) throws {
        self.init(inviteCode: try r.readText(), user: try r.readText(), limit: Int(try r.readU32()), requestID: try r.readOptionalString())
    }
    public static func encode(reply: String, _ w: inout WireWriter) { w.writeString(reply) }
    public static func decodeReply(_ r: inout WireReader) throws -> String { try r.readText() }

    public func run(in context: ShardContext) throws -> String {
        let store = context.store
        guard let invite = try store.invite(inviteCode), !invite.revoked else {
            throw ChatError(.notFound, "no invite \(inviteCode) (unknown or revoked)")
        }
        let id = invite.conversationID
        let group = try GroupRules.group(id, in: store)
        if let member = try store.member(conversationID: id, user: user), member.leftSeq == nil {
            _ = try GroupRules.join(user, group: group, limit: limit, context: context)   // waits for its indexing, if still going
            return id
        }
        if try GroupRules.seen(requestID, in: id, context: context) { return id }
        if let expiresAt = invite.expiresAt, expiresAt <= context.now {
            throw ChatError(.conflict, "invite \(inviteCode) has expired")
        }
        if let maxUses = invite.maxUses, invite.uses >= maxUses {
            throw ChatError(.conflict, "invite \(inviteCode) has been used \(invite.uses) times, its limit")
        }
        guard try GroupRules.join(user, group: group, limit: limit, context: context) else { return id }
        try store.countInviteUse(inviteCode)
        let everyone = try GroupRules.currentMembers(of: id, in: store).map(\.user)
        try GroupRules.record("joined_by_invite", user: user, by: invite.createdBy, in: id, context: context, to: everyone)
        try GroupRules.remember(requestID, in: id, context: context)
        return id
    }
}

extension ShardStore {
    func invite(_ code: String) throws(StoreError) -> Invite? {
        try db.queryOne("SELECT code, conversation_id, created_by, max_uses, uses, expires_at, revoked FROM invites WHERE code=?",
                        .text(code)).map(Self.invite)
    }

    func invites(conversationID: String) throws(StoreError) -> [Invite] {
        try db.query("""
            SELECT code, conversation_id, created_by, max_uses, uses, expires_at, revoked FROM invites
            WHERE conversation_id=? AND revoked=0 ORDER BY created_at, code
            """, .text(conversationID)).map(Self.invite)
    }

    private static func invite(_ row: Row) -> Invite {
        Invite(code: row.text(0) ?? "", conversationID: row.text(1) ?? "", createdBy: row.text(2) ?? "", maxUses: row.int(3),
               uses: row.int(4) ?? 0, expiresAt: row.int(5), revoked: (row.int(6) ?? 0) != 0)
    }

    func insertInvite(_ i: Invite, now: Int64) throws(StoreError) {
        try write("""
            INSERT INTO invites(code, conversation_id, created_by, max_uses, uses, expires_at, revoked, created_at)
            VALUES(?,?,?,?,0,?,0,?)
            """, .text(i.code), .text(i.conversationID), .text(i.createdBy), i.maxUses.map { .int($0) } ?? .null,
            i.expiresAt.map { .int($0) } ?? .null, .int(now))
    }

    func revokeInvite(_ code: String) throws(StoreError) {
        try write("UPDATE invites SET revoked=1 WHERE code=?", .text(code))
    }

    func countInviteUse(_ code: String) throws(StoreError) {
        try write("UPDATE invites SET uses=uses+1 WHERE code=?", .text(code))
    }
}
