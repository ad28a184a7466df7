import Store
import Wire

// Media attachments (docs/ASSETS.md). An asset's row lives on the shard of its id
// (`ShardKey.asset`): what it is (its SHA-256, size, type, uploader) and where it is carried
// (`asset_refs`: a conversation and seq per message that carries it, or an avatar). The bytes
// are files on the nodes that hold the shard, moved by the node (RelayNode/AssetStore.swift),
// not through the row log. Who may read an asset: its uploader, whoever may see the owner's
// profile for an avatar, and whoever may read one of the messages that carry it (`CanReadSeq` on the
// conversation's shard, with history's rules: a removed member keeps what they could read).

public enum AssetLimits {
    /// Refs of each kind one access check looks through (direct chats naming the reader, then
    /// other conversations): a group member is refused if the asset is carried by more than
    /// 64 groups and theirs is not among the first (rare, and the check must stay bounded).
    public static let maxRefsChecked = 64
    /// Rows a shard's primary deletes per round of collection (RelayNode/AssetStore.swift).
    public static let prunePerRound = 500
    /// The `content_type` kept, in bytes (longer ones are refused).
    public static let maxContentTypeBytes = 255
    /// The conversation id that marks a ref as an avatar (`avatar:USER`).
    public static let avatarPrefix = "avatar:"
}

/// An asset's row.
public struct AssetMeta: Sendable, Equatable {
    public var assetID: String
    /// Lowercase hex of the bytes' SHA-256: the file's name on disk, the `ETag`.
    public var sha256: String
    public var size: Int64
    public var contentType: String
    public var uploader: String
    public var createdAt: Int64
    public init(assetID: String, sha256: String, size: Int64, contentType: String, uploader: String, createdAt: Int64) {
        self.assetID = assetID
        self.sha256 = sha256
        self.size = size
        self.contentType = contentType
        self.uploader = uploader
        self.createdAt = createdAt
    }
}

extension WireWriter {
    mutating func write(_ m: AssetMeta) {
        writeString(m.assetID); writeString(m.sha256); writeInt(m.size); writeString(m.contentType)
        writeString(m.uploader); writeInt(m.createdAt)
    }
}

extension WireReader {
    mutating func readAssetMeta() throws -> AssetMeta {
        AssetMeta(assetID: try readText(), sha256: try readText(), size: try readInt(), contentType: try readText(),
                  uploader: try readText(), createdAt: try readInt())
    }
}

/// Records an uploaded asset whose file the node already put on the shard's replicas
/// (idempotent: a repeat of the same row changes nothing; another row under the id is a
/// conflict, which a random id makes impossible in practice).
public struct RegisterAsset: ShardOperation {
    public static let code = OperationCode.registerAsset
    public var meta: AssetMeta
    public init(_ meta: AssetMeta) { self.meta = meta }
    public var key: ShardKey { .asset(meta.assetID) }
    public func encode(_ w: inout WireWriter) { w.write(meta) }
    public init(from r: inout WireReader) throws { meta = try r.readAssetMeta() }
    public static func encode(reply: Done, _ w: inout WireWriter) {}
    public static func decodeReply(_ r: inout WireReader) throws -> Done { Done() }
    public func run(in context: ShardContext) throws -> Done {
        if let existing = try context.store.asset(meta.assetID) {
            guard existing.sha256 == meta.sha256, existing.uploader == meta.uploader else {
                throw ChatError(.conflict, "asset id \(meta.assetID) is taken")
            }
            return Done()
        }
        var row = meta
        row.createdAt = context.now
        try context.store.insertAsset(row)
        return Done()
    }
}

/// What the front needs to decide whether `reader` may read an asset: its row (nil: no such
/// asset), whether the row alone grants it (the uploader, an avatar), and otherwise the
/// messages that carry it, to ask their conversations about.
public struct AssetAccess: ShardOperation {
    public static let code = OperationCode.assetAccess
    public struct Grant: Sendable, Equatable {
        public var meta: AssetMeta?
        public var readable: Bool
        public var refs: [MessageRef]
    }
    public struct MessageRef: Sendable, Equatable {
        public var conversationID: String
        public var seq: Int64
    }
    public var assetID: String
    public var reader: String
    public init(assetID: String, reader: String) {
        self.assetID = assetID
        self.reader = reader
    }
    public var key: ShardKey { .asset(assetID) }
    public func encode(_ w: inout WireWriter) { w.writeString(assetID); w.writeString(reader) }
    public init(from r: inout WireReader) throws { self.init(assetID: try r.readText(), reader: try r.readText()) }
    public static func encode(reply: Grant, _ w: inout WireWriter) {
        w.writeBool(reply.meta != nil)
        if let meta = reply.meta { w.write(meta) }
        w.writeBool(reply.readable)
        w.writeList(reply.refs) { ref, w in w.writeString(ref.conversationID); w.writeInt(ref.seq) }
    }
    public static func decodeReply(_ r: inout WireReader) throws -> Grant {
        let meta = try r.readBool() ? try r.readAssetMeta() : nil
        let readable = try r.readBool()
        let refs = try r.readList(minBytes: 12) { r in MessageRef(conversationID: try r.readText(), seq: try r.readInt()) }
        return Grant(meta: meta, readable: readable, refs: refs)
    }
    public func run(in context: ShardContext) throws -> Grant {
        let store = context.store
        guard let meta = try store.asset(assetID) else { return Grant(meta: nil, readable: false, refs: []) }
        if meta.uploader == reader { return Grant(meta: meta, readable: true, refs: []) }
        // Avatars first (`avatar:USER`, seq 0: readable by whoever may see USER's profile),
        // then the messages that carry it.
        let avatars = try store.avatarOwners(assetID: assetID, limit: AssetLimits.maxRefsChecked)
            .map { MessageRef(conversationID: AssetLimits.avatarPrefix + $0, seq: 0) }
        let refs = try store.messageRefs(assetID: assetID, reader: reader, limit: AssetLimits.maxRefsChecked)
        return Grant(meta: meta, readable: false, refs: avatars + refs.map { MessageRef(conversationID: $0.0, seq: $0.1) })
    }
}

/// Records that a message (or an avatar: `avatar:USER`, seq 0) carries an asset. Idempotent.
public struct AddAssetRef: ShardOperation {
    public static let code = OperationCode.addAssetRef
    public var assetID: String
    public var conversationID: String
    public var seq: Int64
    public init(assetID: String, conversationID: String, seq: Int64) {
        self.assetID = assetID
        self.conversationID = conversationID
        self.seq = seq
    }
    public var key: ShardKey { .asset(assetID) }
    public func encode(_ w: inout WireWriter) { w.writeString(assetID); w.writeString(conversationID); w.writeInt(seq) }
    public init(from r: inout WireReader) throws { self.init(assetID: try r.readText(), conversationID: try r.readText(), seq: try r.readInt()) }
    public static func encode(reply: Done, _ w: inout WireWriter) {}
    public static func decodeReply(_ r: inout WireReader) throws -> Done { Done() }
    public func run(in context: ShardContext) throws -> Done {
        try context.store.addAssetRef(assetID: assetID, conversationID: conversationID, seq: seq)
        return Done()
    }
}

/// Sets or clears a user's avatar ref on an asset (for profiles): an avatar is readable by
/// whoever may see the owner's profile and never collected while set. Idempotent.
public struct SetAvatarRef: ShardOperation {
    public static let code = OperationCode.setAvatarRef
    public var assetID: String
    public var user: String
    public var set: Bool
    public init(assetID: String, user: String, set: Bool) {
        self.assetID = assetID
        self.user = user
        self.set = set
    }
    public var key: ShardKey { .asset(assetID) }
    public func encode(_ w: inout WireWriter) { w.writeString(assetID); w.writeString(user); w.writeBool(set) }
    public init(from r: inout WireReader) throws { self.init(assetID: try r.readText(), user: try r.readText(), set: try r.readBool()) }
    public static func encode(reply: Done, _ w: inout WireWriter) {}
    public static func decodeReply(_ r: inout WireReader) throws -> Done { Done() }
    public func run(in context: ShardContext) throws -> Done {
        let conversation = AssetLimits.avatarPrefix + user
        if set {
            guard try context.store.asset(assetID) != nil else { throw ChatError(.notFound, "unknown asset \(assetID)") }
            try context.store.addAssetRef(assetID: assetID, conversationID: conversation, seq: 0)
        } else {
            try context.store.removeAssetRef(assetID: assetID, conversationID: conversation, seq: 0)
        }
        return Done()
    }
}

/// Whether `reader` may read message `seq` of a conversation, by history's rules: a member
/// (or a removed one, up to the removal) whose window covers the seq.
public struct CanReadSeq: ShardOperation {
    public static let code = OperationCode.canReadSeq
    public var conversationID: String
    public var reader: String
    public var seq: Int64
    public init(conversationID: String, reader: String, seq: Int64) {
        self.conversationID = conversationID
        self.reader = reader
        self.seq = seq
    }
    public var key: ShardKey { .conversation(conversationID) }
    public func encode(_ w: inout WireWriter) { w.writeString(conversationID); w.writeString(reader); w.writeInt(seq) }
    public init(from r: inout WireReader) throws { self.init(conversationID: try r.readText(), reader: try r.readText(), seq: try r.readInt()) }
    public static func encode(reply: Bool, _ w: inout WireWriter) { w.writeBool(reply) }
    public static func decodeReply(_ r: inout WireReader) throws -> Bool { try r.readBool() }
    public func run(in context: ShardContext) throws -> Bool {
        let store = context.store
        guard let conversation = try store.conversation(conversationID),
              let member = try store.member(conversationID: conversationID, user: reader) else { return false }
        let first = member.firstVisibleSeq(historyVisible: conversation.historyVisible)
        let last = member.leftSeq ?? conversation.lastSeq
        // A message hidden from the reader (Blocks.swift) does not let them read what it carries.
        return try seq >= first && seq <= last && !store.isHidden(conversationID: conversationID, seq: seq, from: reader)
    }
}

/// The outbox job of a message that carries assets: one ref per asset on its shard, so the
/// conversation's readers can fetch it. Recorded by `SendMessage` with the message.
public struct RecordAssetRefs: OutboxJob {
    public static let kind = JobKind.recordAssetRefs
    public var conversationID: String
    public var seq: Int64
    public var assets: [String]
    public init(conversationID: String, seq: Int64, assets: [String]) {
        self.conversationID = conversationID
        self.seq = seq
        self.assets = assets
    }
    public var id: String { "assetrefs:\(conversationID):\(seq)" }
    public init(payload: [UInt8]) throws {
        var r = WireReader(payload)
        self.init(conversationID: try r.readText(), seq: try r.readInt(), assets: try r.readStrings())
    }
    public var payload: [UInt8] {
        var w = WireWriter()
        w.writeString(conversationID); w.writeInt(seq); w.writeStrings(assets)
        return w.bytes
    }
    /// Progress: how many of `assets` are recorded (one call per step).
    public func step(progress: [UInt8]?, context: JobContext, done: @escaping (JobStep) -> Void) {
        var index = 0
        if let progress { var r = WireReader(progress); index = Int((try? r.readInt()) ?? 0) }
        guard index < assets.count else { return done(.finished) }
        context.router.call(AddAssetRef(assetID: assets[index], conversationID: conversationID, seq: seq)) { result in
            if case .failure(let error) = result { return done(.failed(error)) }
            if index + 1 == self.assets.count { return done(.finished) }
            var w = WireWriter()
            w.writeInt(Int64(index + 1))
            done(.progressed(w.bytes))
        }
    }
}
