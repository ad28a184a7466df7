import Store
import Wire

// Accounts and sessions, on the user's shard: the account row with its password hash, and
// the sessions (only SHA-256 of each token is stored). The front's side (signup, login,
// authenticate, logout) is in ChatService+Accounts.swift.

/// A session to store: the token's hash, never the token.
public struct NewSession: Sendable, Equatable {
    public var user: String
    public var device: String
    public var tokenHash: [UInt8]
    public var expiresAt: Int64
    public init(user: String, device: String, tokenHash: [UInt8], expiresAt: Int64) {
        self.user = user
        self.device = device
        self.tokenHash = tokenHash
        self.expiresAt = expiresAt
    }
}

extension WireWriter {
    mutating func write(_ s: NewSession) {
        writeString(s.user); writeString(s.device); writeBytes(s.tokenHash); writeInt(s.expiresAt)
    }
}

extension WireReader {
    mutating func readSession() throws -> NewSession {
        NewSession(user: try readText(), device: try readText(), tokenHash: try readBytes(maxBytes: 64), expiresAt: try readInt())
    }
}

/// Signup: the account and its first session; `conflict` when the id is taken.
public struct CreateUser: ShardOperation {
    public static let code = OperationCode.createUser
    public var user: String
    public var passwordHash: String
    public var displayName: String
    public var session: NewSession
    public var key: ShardKey { .user(user) }

    public func encode(_ w: inout WireWriter) {
        w.writeString(user); w.writeString(passwordHash); w.writeString(displayName); w.write(session)
    }
    public init(user: String, passwordHash: String, displayName: String, session: NewSession) {
        self.user = user
        self.passwordHash = passwordHash
        self.displayName = displayName
        self.session = session
    }
    public init(from r: inout WireReader) throws {
        self.init(user: try r.readText(), passwordHash: try r.readText(), displayName: try r.readText(), session: try r.readSession())
    }
    public static func encode(reply: Done, _ w: inout WireWriter) {}
    public static func decodeReply(_ r: inout WireReader) throws -> Done { Done() }

    public func run(in context: ShardContext) throws -> Done {
        let store = context.store
        guard try store.insertUser(id: user, passwordHash: passwordHash, displayName: displayName, now: context.now) else {
            throw ChatError(.conflict, "user id \(user) is taken")
        }
        try store.insertSession(tokenHash: session.tokenHash, user: user, device: session.device, now: context.now,
                                expiresAt: session.expiresAt)
        return Done()
    }
}

/// The stored password hash (nil: no such user), for the front to check off the loop.
public struct PasswordHash: ShardOperation {
    public static let code = OperationCode.passwordHash
    public var user: String
    public init(user: String) { self.user = user }
    public var key: ShardKey { .user(user) }
    public func encode(_ w: inout WireWriter) { w.writeString(user) }
    public init(from r: inout WireReader) throws { user = try r.readText() }
    public static func encode(reply: String?, _ w: inout WireWriter) { w.writeOptionalString(reply) }
    public static func decodeReply(_ r: inout WireReader) throws -> String? { try r.readOptionalString() }
    public func run(in context: ShardContext) throws -> String? { try context.store.passwordHash(user: user) }
}

/// A login's new session.
public struct CreateSession: ShardOperation {
    public static let code = OperationCode.createSession
    public var session: NewSession
    public init(_ session: NewSession) { self.session = session }
    public var key: ShardKey { .user(session.user) }
    public func encode(_ w: inout WireWriter) { w.write(session) }
    public init(from r: inout WireReader) throws { session = try r.readSession() }
    public static func encode(reply: Done, _ w: inout WireWriter) {}
    public static func decodeReply(_ r: inout WireReader) throws -> Done { Done() }
    public func run(in context: ShardContext) throws -> Done {
        try context.store.insertSession(tokenHash: session.tokenHash, user: session.user, device: session.device,
                                        now: context.now, expiresAt: session.expiresAt)
        return Done()
    }
}

/// The live session of a token hash (nil: unknown, expired, or another user's).
public struct FindSession: ShardOperation {
    public static let code = OperationCode.findSession
    public var user: String
    public var tokenHash: [UInt8]
    public init(user: String, tokenHash: [UInt8]) {
        self.user = user
        self.tokenHash = tokenHash
    }
    public var key: ShardKey { .user(user) }
    public func encode(_ w: inout WireWriter) { w.writeString(user); w.writeBytes(tokenHash) }
    public init(from r: inout WireReader) throws {
        user = try r.readText()
        tokenHash = try r.readBytes(maxBytes: 64)
    }
    public static func encode(reply: SessionRecord?, _ w: inout WireWriter) {
        if let s = reply { w.writeU8(1); w.writeString(s.user); w.writeString(s.device); w.writeInt(s.expiresAt) } else { w.writeU8(0) }
    }
    public static func decodeReply(_ r: inout WireReader) throws -> SessionRecord? {
        try r.readU8() == 1 ? SessionRecord(user: try r.readText(), device: try r.readText(), expiresAt: try r.readInt()) : nil
    }
    public func run(in context: ShardContext) throws -> SessionRecord? {
        guard let session = try context.store.session(tokenHash: tokenHash), session.user == user,
              session.expiresAt > context.now else { return nil }
        return session
    }
}

/// Logout: the token stops working (true when it existed).
public struct DeleteSession: ShardOperation {
    public static let code = OperationCode.deleteSession
    public var user: String
    public var tokenHash: [UInt8]
    public init(user: String, tokenHash: [UInt8]) {
        self.user = user
        self.tokenHash = tokenHash
    }
    public var key: ShardKey { .user(user) }
    public func encode(_ w: inout WireWriter) { w.writeString(user); w.writeBytes(tokenHash) }
    public init(from r: inout WireReader) throws {
        user = try r.readText()
        tokenHash = try r.readBytes(maxBytes: 64)
    }
    public static func encode(reply: Bool, _ w: inout WireWriter) { w.writeBool(reply) }
    public static func decodeReply(_ r: inout WireReader) throws -> Bool { try r.readBool() }
    public func run(in context: ShardContext) throws -> Bool { try context.store.deleteSession(tokenHash: tokenHash) }
}

public struct UserExists: ShardOperation {
    public static let code = OperationCode.userExists
    public var user: String
    public init(user: String) { self.user = user }
    public var key: ShardKey { .user(user) }
    public func encode(_ w: inout WireWriter) { w.writeString(user) }
    public init(from r: inout WireReader) throws { user = try r.readText() }
    public static func encode(reply: Bool, _ w: inout WireWriter) { w.writeBool(reply) }
    public static func decodeReply(_ r: inout WireReader) throws -> Bool { try r.readBool() }
    public func run(in context: ShardContext) throws -> Bool { try context.store.user(user) != nil }
}
