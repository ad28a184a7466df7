import Chat
import Wire

/// Peer-protocol operations between nodes beyond the shard operations (which use
/// `OperationCode`, codes 1-99). Each payload is WireWriter-encoded.
public enum ClusterOp: UInt16, Sendable, CaseIterable {
    /// oneway: an event for some users' connections on the receiving node.
    case pushEvent = 100
    /// oneway: a user's first connection opened / last closed on the sending node.
    case presence = 101
    /// oneway: every user with a connection on the sending node (sent when a link comes up).
    case directorySnapshot = 102
    /// oneway: close the WebSockets of a logged-out token.
    case logout = 103
    /// request: make a snapshot of a shard for the requester (a replica being filled); answers its size.
    case snapshotBegin = 111
    /// request: bytes of the snapshot at an offset.
    case snapshotChunk = 112
    /// request: the requester installed the snapshot; drop the temporary file.
    case snapshotDone = 113
    /// oneway: a message of the shards' configuration registers (`ReplicaCodec`).
    case register = 120
    /// request: log entries from a shard's primary; answered with an `AppendReply`.
    case append = 121
    /// request: the shard's primary asks the receiver to pull a snapshot from it; answered
    /// with an `AppendReply` once installed.
    case snapshotOffer = 122
    /// request: does the shard's primary still count on the requester's copy?
    case holdQuery = 123
    /// request: answered empty at once; how a node tells a link it saw fail has healed.
    case linkProbe = 124
    /// request: forward a shard operation to the node it names and answer with its answer
    /// (a node whose own link to a primary is cut routes through a peer that reaches it).
    case relay = 125
}

/// Payload encodings of `ClusterOp`, in one place.
enum ClusterCodec {
    static let maxText = 1 << 20

    static func pushEvent(_ event: OutboundEvent, users: [String], except: ConnectionRef?) -> [UInt8] {
        var w = WireWriter()
        switch event.kind {
        case .message(let id, let seq): w.writeU8(0); w.writeString(id); w.writeU64(UInt64(bitPattern: seq))
        case .receipt: w.writeU8(1)
        case .typing: w.writeU8(2)
        case .presence: w.writeU8(3)
        }
        w.writeString(event.text)
        w.writeStrings(users)
        if let except { w.writeU8(1); w.writeString(except.node); w.writeU64(except.id) } else { w.writeU8(0) }
        return w.bytes
    }

    static func decodePushEvent(_ bytes: [UInt8]) throws -> (OutboundEvent, [String], ConnectionRef?) {
        var r = WireReader(bytes)
        let kind: OutboundEvent.Kind
        switch try r.readU8() {
        case 0: kind = .message(conversationID: try r.readString(maxBytes: 256), seq: Int64(bitPattern: try r.readU64()))
        case 1: kind = .receipt
        case 2: kind = .typing
        case 3: kind = .presence
        case let tag: throw ShardCodecError("unknown event tag \(tag)")
        }
        let text = try r.readString(maxBytes: maxText)
        let users = try r.readStrings()
        let except: ConnectionRef? = try r.readU8() == 1 ? ConnectionRef(node: try r.readString(maxBytes: 64), id: try r.readU64()) : nil
        try r.expectEnd()
        return (OutboundEvent(kind: kind, text: text), users, except)
    }

    static func presence(user: String, online: Bool) -> [UInt8] {
        var w = WireWriter()
        w.writeString(user)
        w.writeU8(online ? 1 : 0)
        return w.bytes
    }

    static func decodePresence(_ bytes: [UInt8]) throws -> (String, Bool) {
        var r = WireReader(bytes)
        let user = try r.readString(maxBytes: 64), online = try r.readU8() == 1
        try r.expectEnd()
        return (user, online)
    }

    static func strings(_ list: [String]) -> [UInt8] {
        var w = WireWriter()
        w.writeStrings(list)
        return w.bytes
    }

    static func decodeStrings(_ bytes: [UInt8]) throws -> [String] {
        var r = WireReader(bytes)
        let list = try r.readStrings()
        try r.expectEnd()
        return list
    }

    static func logout(user: String, tokenHash: [UInt8]) -> [UInt8] {
        var w = WireWriter()
        w.writeString(user)
        w.writeBytes(tokenHash)
        return w.bytes
    }

    static func decodeLogout(_ bytes: [UInt8]) throws -> (String, [UInt8]) {
        var r = WireReader(bytes)
        let user = try r.readString(maxBytes: 64), hash = try r.readBytes(maxBytes: 64)
        try r.expectEnd()
        return (user, hash)
    }

    static func shards(_ list: [Int]) -> [UInt8] {
        var w = WireWriter()
        w.writeU32(UInt32(list.count))
        for s in list { w.writeU32(UInt32(s)) }
        return w.bytes
    }

    static func decodeShards(_ bytes: [UInt8], max: Int) throws -> [Int] {
        var r = WireReader(bytes)
        let n = Int(try r.readU32())
        guard n <= max else { throw ShardCodecError.tooLong }
        var out: [Int] = []
        for _ in 0..<n {
            let s = Int(try r.readU32())
            guard s < max else { throw ShardCodecError.tooLong }
            out.append(s)
        }
        try r.expectEnd()
        return out
    }

    /// whoHolds answer: for each asked shard, held or not, and the primary in the answerer's view.
    static func holdings(_ list: [(shard: Int, held: Bool, primary: String)]) -> [UInt8] {
        var w = WireWriter()
        w.writeU32(UInt32(list.count))
        for item in list { w.writeU32(UInt32(item.shard)); w.writeU8(item.held ? 1 : 0); w.writeShortString(item.primary) }
        return w.bytes
    }

    static func decodeHoldings(_ bytes: [UInt8], max: Int) throws -> [(shard: Int, held: Bool, primary: String)] {
        var r = WireReader(bytes)
        let n = Int(try r.readU32())
        guard n <= max else { throw ShardCodecError.tooLong }
        var out: [(shard: Int, held: Bool, primary: String)] = []
        for _ in 0..<n {
            out.append((Int(try r.readU32()), try r.readU8() == 1, try r.readShortString(maxBytes: 64)))
        }
        try r.expectEnd()
        return out
    }

    static func chunkRequest(shard: Int, offset: Int64, length: Int) -> [UInt8] {
        var w = WireWriter()
        w.writeU32(UInt32(shard)); w.writeU64(UInt64(bitPattern: offset)); w.writeU32(UInt32(length))
        return w.bytes
    }

    static func decodeChunkRequest(_ bytes: [UInt8]) throws -> (shard: Int, offset: Int64, length: Int) {
        var r = WireReader(bytes)
        let shard = Int(try r.readU32()), offset = Int64(bitPattern: try r.readU64()), length = Int(try r.readU32())
        try r.expectEnd()
        return (shard, offset, length)
    }

    static func relay(to target: String, code: UInt16, payload: [UInt8]) -> [UInt8] {
        var w = WireWriter()
        w.writeString(target)
        w.writeU16(code)
        w.writeBytes(payload)
        return w.bytes
    }

    static func decodeRelay(_ bytes: [UInt8]) throws -> (String, UInt16, [UInt8]) {
        var r = WireReader(bytes)
        let target = try r.readString(maxBytes: 64), code = try r.readU16()
        let payload = try r.readBytes(maxBytes: PeerFrameLimits.maxPayloadBytes)
        try r.expectEnd()
        return (target, code, payload)
    }

    static func u64(_ v: Int64) -> [UInt8] {
        var w = WireWriter()
        w.writeU64(UInt64(bitPattern: v))
        return w.bytes
    }

    static func decodeU64(_ bytes: [UInt8]) throws -> Int64 {
        var r = WireReader(bytes)
        let v = Int64(bitPattern: try r.readU64())
        try r.expectEnd()
        return v
    }
}
