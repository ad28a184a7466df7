import Store
import Wire

/// The binary form of shard requests and replies on the peer protocol: an operation code per
/// request kind, then its fields with WireWriter's big-endian, length-prefixed encoding.
/// Every decode is bounds-checked; hostile bytes give `ShardCodecError`, never a trap.
public enum ShardCodec {
    /// Bounds on decoded collections and strings: far above legitimate use, small enough that
    /// one frame cannot make a node allocate without limit.
    static let maxStringBytes = 1 << 20
    static let maxListCount = 100_000

    public enum Operation: UInt16, Sendable, CaseIterable {
        case createUser = 1, passwordHash, createSession, session, deleteSession, userExists, addToIndex,
             conversationIndex, openDirect, send, messages, setCursors, summaries, typing, conversationExists
    }

    // MARK: Requests

    public static func encode(_ request: ShardRequest) -> (operation: UInt16, payload: [UInt8]) {
        var w = WireWriter()
        let op: Operation
        switch request {
        case .createUser(let user, let hash, let name, let session):
            op = .createUser
            w.writeString(user); w.writeString(hash); w.writeString(name); write(session, &w)
        case .passwordHash(let user):
            op = .passwordHash; w.writeString(user)
        case .createSession(let session):
            op = .createSession; write(session, &w)
        case .session(let user, let hash):
            op = .session; w.writeString(user); w.writeBytes(hash)
        case .deleteSession(let user, let hash):
            op = .deleteSession; w.writeString(user); w.writeBytes(hash)
        case .userExists(let user):
            op = .userExists; w.writeString(user)
        case .addToIndex(let user, let id):
            op = .addToIndex; w.writeString(user); w.writeString(id)
        case .conversationIndex(let user):
            op = .conversationIndex; w.writeString(user)
        case .openDirect(let id):
            op = .openDirect; w.writeString(id)
        case .conversationExists(let id):
            op = .conversationExists; w.writeString(id)
        case .send(let m):
            op = .send
            w.writeString(m.conversationID); w.writeString(m.sender); w.writeString(m.clientID); w.writeString(m.kind)
            w.writeString(m.body); writeStrings(m.attachments, &w); writeTip(m.tip, &w)
            if let origin = m.origin { w.writeU8(1); w.writeString(origin.node); w.writeU64(origin.id) } else { w.writeU8(0) }
        case .messages(let id, let reader, let q):
            op = .messages
            w.writeString(id); w.writeString(reader); writeOptional(q.after, &w); writeOptional(q.before, &w); w.writeU32(UInt32(clamping: q.limit))
        case .setCursors(let id, let user, let delivered, let read):
            op = .setCursors
            w.writeString(id); w.writeString(user); writeOptional(delivered, &w); writeOptional(read, &w)
        case .summaries(let user, let ids):
            op = .summaries; w.writeString(user); writeStrings(ids, &w)
        case .typing(let id, let user):
            op = .typing; w.writeString(id); w.writeString(user)
        }
        return (op.rawValue, w.bytes)
    }

    public static func decodeRequest(operation: UInt16, payload: [UInt8]) throws(ShardCodecError) -> ShardRequest {
        guard let op = Operation(rawValue: operation) else { throw ShardCodecError("unknown operation \(operation)") }
        var r = WireReader(payload)
        do {
            let request: ShardRequest
            switch op {
            case .createUser:
                request = .createUser(user: try str(&r), passwordHash: try str(&r), displayName: try str(&r), session: try readSession(&r))
            case .passwordHash: request = .passwordHash(user: try str(&r))
            case .createSession: request = .createSession(try readSession(&r))
            case .session: request = .session(user: try str(&r), tokenHash: try r.readBytes(maxBytes: 64))
            case .deleteSession: request = .deleteSession(user: try str(&r), tokenHash: try r.readBytes(maxBytes: 64))
            case .userExists: request = .userExists(user: try str(&r))
            case .addToIndex: request = .addToIndex(user: try str(&r), conversationID: try str(&r))
            case .conversationIndex: request = .conversationIndex(user: try str(&r))
            case .openDirect: request = .openDirect(conversationID: try str(&r))
            case .conversationExists: request = .conversationExists(conversationID: try str(&r))
            case .send:
                let id = try str(&r), sender = try str(&r), clientID = try str(&r), kind = try str(&r), body = try str(&r)
                let attachments = try strings(&r), tip = try readTip(&r)
                let origin: ConnectionRef? = try r.readU8() == 1 ? ConnectionRef(node: try str(&r), id: try r.readU64()) : nil
                request = .send(NewMessage(conversationID: id, sender: sender, clientID: clientID, kind: kind, body: body,
                                           attachments: attachments, tip: tip, origin: origin))
            case .messages:
                let id = try str(&r), reader = try str(&r), after = try optional(&r), before = try optional(&r)
                request = .messages(conversationID: id, reader: reader,
                                    query: HistoryQuery(after: after, before: before, limit: Int(try r.readU32())))
            case .setCursors:
                request = .setCursors(conversationID: try str(&r), user: try str(&r), delivered: try optional(&r), read: try optional(&r))
            case .summaries: request = .summaries(user: try str(&r), conversationIDs: try strings(&r))
            case .typing: request = .typing(conversationID: try str(&r), user: try str(&r))
            }
            try r.expectEnd()
            return request
        } catch let error as ShardCodecError {
            throw error
        } catch {
            throw ShardCodecError("malformed \(op) request: \(error)")
        }
    }

    // MARK: Replies

    private enum ReplyTag: UInt8 { case failure = 0, done, flag, passwordHash, session, index, ack, page, cursors, summaries }

    public static func encode(_ result: Result<ShardReply, ChatError>) -> [UInt8] {
        var w = WireWriter()
        switch result {
        case .failure(let error):
            w.writeU8(ReplyTag.failure.rawValue); w.writeString(error.code.rawValue); w.writeString(error.message)
            writeOptional(error.retryAfterMs, &w)
        case .success(let reply):
            switch reply {
            case .done: w.writeU8(ReplyTag.done.rawValue)
            case .flag(let b): w.writeU8(ReplyTag.flag.rawValue); w.writeU8(b ? 1 : 0)
            case .passwordHash(let hash):
                w.writeU8(ReplyTag.passwordHash.rawValue)
                if let hash { w.writeU8(1); w.writeString(hash) } else { w.writeU8(0) }
            case .session(let s):
                w.writeU8(ReplyTag.session.rawValue)
                if let s { w.writeU8(1); w.writeString(s.user); w.writeString(s.device); writeInt(s.expiresAt, &w) } else { w.writeU8(0) }
            case .index(let ids): w.writeU8(ReplyTag.index.rawValue); writeStrings(ids, &w)
            case .ack(let a):
                w.writeU8(ReplyTag.ack.rawValue)
                w.writeString(a.clientID); w.writeString(a.conversationID); writeInt(a.seq, &w); w.writeString(a.messageID); writeInt(a.ts, &w)
            case .page(let messages, let hasMore):
                w.writeU8(ReplyTag.page.rawValue); w.writeU8(hasMore ? 1 : 0); w.writeU32(UInt32(messages.count))
                for m in messages { writeMessage(m, &w) }
            case .cursors(let d, let r): w.writeU8(ReplyTag.cursors.rawValue); writeInt(d, &w); writeInt(r, &w)
            case .summaries(let list):
                w.writeU8(ReplyTag.summaries.rawValue); w.writeU32(UInt32(list.count))
                for s in list {
                    w.writeString(s.conversationID); w.writeString(s.kind); w.writeString(s.title)
                    writeInt(s.lastSeq, &w); writeInt(s.lastTs, &w); writeInt(s.delivered, &w); writeInt(s.read, &w); writeInt(s.unread, &w)
                }
            }
        }
        return w.bytes
    }

    public static func decodeReply(_ payload: [UInt8]) throws(ShardCodecError) -> Result<ShardReply, ChatError> {
        var r = WireReader(payload)
        do {
            guard let tag = ReplyTag(rawValue: try r.readU8()) else { throw ShardCodecError("unknown reply tag") }
            let result: Result<ShardReply, ChatError>
            switch tag {
            case .failure:
                let code = try str(&r), message = try str(&r), retry = try optional(&r)
                result = .failure(ChatError(ChatError.Code(rawValue: code) ?? .unavailable, message, retryAfterMs: retry))
            case .done: result = .success(.done)
            case .flag: result = .success(.flag(try r.readU8() == 1))
            case .passwordHash: result = .success(.passwordHash(try r.readU8() == 1 ? try str(&r) : nil))
            case .session:
                result = .success(.session(try r.readU8() == 1
                    ? SessionRecord(user: try str(&r), device: try str(&r), expiresAt: try int(&r)) : nil))
            case .index: result = .success(.index(try strings(&r)))
            case .ack:
                result = .success(.ack(Ack(clientID: try str(&r), conversationID: try str(&r), seq: try int(&r),
                                           messageID: try str(&r), ts: try int(&r))))
            case .page:
                let hasMore = try r.readU8() == 1
                let count = try count(&r)
                var messages: [StoredMessage] = []
                for _ in 0..<count { messages.append(try readMessage(&r)) }
                result = .success(.page(messages: messages, hasMore: hasMore))
            case .cursors: result = .success(.cursors(delivered: try int(&r), read: try int(&r)))
            case .summaries:
                let count = try count(&r)
                var list: [ConversationSummary] = []
                for _ in 0..<count {
                    list.append(ConversationSummary(conversationID: try str(&r), kind: try str(&r), title: try str(&r),
                                                    lastSeq: try int(&r), lastTs: try int(&r), delivered: try int(&r),
                                                    read: try int(&r), unread: try int(&r)))
                }
                result = .success(.summaries(list))
            }
            try r.expectEnd()
            return result
        } catch let error as ShardCodecError {
            throw error
        } catch {
            throw ShardCodecError("malformed reply: \(error)")
        }
    }

    // MARK: Messages (also used by event forwarding)

    public static func writeMessage(_ m: StoredMessage, _ w: inout WireWriter) {
        w.writeString(m.conversationID); writeInt(m.seq, &w); w.writeString(m.messageID); w.writeString(m.sender)
        w.writeString(m.clientID); writeInt(m.ts, &w); w.writeString(m.kind); w.writeString(m.body)
        writeStrings(m.attachments, &w); writeTip(m.tip, &w)
    }

    public static func readMessage(_ r: inout WireReader) throws -> StoredMessage {
        StoredMessage(conversationID: try str(&r), seq: try int(&r), messageID: try str(&r), sender: try str(&r),
                      clientID: try str(&r), ts: try int(&r), kind: try str(&r), body: try str(&r),
                      attachments: try strings(&r), tip: try readTip(&r))
    }

    // MARK: Field helpers

    static func writeInt(_ v: Int64, _ w: inout WireWriter) { w.writeU64(UInt64(bitPattern: v)) }
    static func int(_ r: inout WireReader) throws -> Int64 { Int64(bitPattern: try r.readU64()) }
    static func str(_ r: inout WireReader) throws -> String { try r.readString(maxBytes: maxStringBytes) }

    static func writeOptional(_ v: Int64?, _ w: inout WireWriter) {
        if let v { w.writeU8(1); writeInt(v, &w) } else { w.writeU8(0) }
    }
    static func optional(_ r: inout WireReader) throws -> Int64? { try r.readU8() == 1 ? try int(&r) : nil }

    public static func writeStrings(_ list: [String], _ w: inout WireWriter) {
        w.writeU32(UInt32(list.count))
        for s in list { w.writeString(s) }
    }
    public static func strings(_ r: inout WireReader) throws -> [String] {
        let n = try count(&r)
        var out: [String] = []
        out.reserveCapacity(n)
        for _ in 0..<n { out.append(try str(&r)) }
        return out
    }
    static func count(_ r: inout WireReader) throws -> Int {
        let n = Int(try r.readU32())
        // Each element takes at least 4 bytes, so a count beyond that is a lie.
        guard n <= maxListCount, n <= r.remainingCount / 4 + 1 else { throw ShardCodecError("list of \(n) is too long") }
        return n
    }

    static func write(_ s: NewSession, _ w: inout WireWriter) {
        w.writeString(s.user); w.writeString(s.device); w.writeBytes(s.tokenHash); writeInt(s.expiresAt, &w)
    }
    static func readSession(_ r: inout WireReader) throws -> NewSession {
        NewSession(user: try str(&r), device: try str(&r), tokenHash: try r.readBytes(maxBytes: 64), expiresAt: try int(&r))
    }

    static func writeTip(_ tip: Tip?, _ w: inout WireWriter) {
        if let tip { w.writeU8(1); writeInt(tip.amountCents, &w); w.writeString(tip.currency) } else { w.writeU8(0) }
    }
    static func readTip(_ r: inout WireReader) throws -> Tip? {
        try r.readU8() == 1 ? Tip(amountCents: try int(&r), currency: try str(&r)) : nil
    }
}

public struct ShardCodecError: Error, Sendable, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
    public static let tooLong = ShardCodecError("a list is too long")
}
