import Replication
import Store
import Wire

/// Payloads of the replication operations (`ClusterOp.append`, `.snapshotOffer`, `.holdQuery`).
enum ReplicaWire {
    struct Malformed: Error {}

    /// Entries of one shard from its primary, following the entry (prevLSN, prevTerm).
    struct Append {
        var shard: Int
        var epoch: Int64
        var prevLSN: Int64
        var prevTerm: Int64
        var entries: [LogEntry]
    }

    /// Bytes of entries per append at most; a longer range goes as several appends in order.
    static let maxAppendBytes = 4 << 20

    static func encode(_ a: Append, encodedEntries: [[UInt8]]) -> [UInt8] {
        var w = WireWriter(reservingCapacity: 40 + encodedEntries.reduce(0) { $0 + $1.count + 4 })
        w.writeU32(UInt32(a.shard)); w.writeU64(UInt64(bitPattern: a.epoch))
        w.writeU64(UInt64(bitPattern: a.prevLSN)); w.writeU64(UInt64(bitPattern: a.prevTerm))
        w.writeU32(UInt32(encodedEntries.count))
        for e in encodedEntries { w.writeBytes(e) }
        return w.bytes
    }

    static func decodeAppend(_ bytes: [UInt8], maxShard: Int) throws -> Append {
        var r = WireReader(bytes)
        let shard = Int(try r.readU32())
        guard shard < maxShard else { throw Malformed() }
        let epoch = Int64(bitPattern: try r.readU64()), prevLSN = Int64(bitPattern: try r.readU64())
        let prevTerm = Int64(bitPattern: try r.readU64())
        let count = Int(try r.readU32())
        guard count <= r.remainingCount / 4 else { throw Malformed() }
        var entries: [LogEntry] = []
        entries.reserveCapacity(count)
        for i in 0..<count {
            let entry = try LogEntry.decode(try r.readBytes(maxBytes: PeerFrameLimits.maxPayloadBytes))
            guard entry.lsn == prevLSN + Int64(i) + 1 else { throw Malformed() }
            entries.append(entry)
        }
        try r.expectEnd()
        return Append(shard: shard, epoch: epoch, prevLSN: prevLSN, prevTerm: prevTerm, entries: entries)
    }

    static func encode(_ reply: AppendReply) -> [UInt8] {
        var w = WireWriter()
        switch reply {
        case .ack(let lsn): w.writeU8(0); w.writeU64(UInt64(bitPattern: lsn))
        case .mismatch(let lsn, let term): w.writeU8(1); w.writeU64(UInt64(bitPattern: lsn)); w.writeU64(UInt64(bitPattern: term))
        case .refuse(let epoch): w.writeU8(2); w.writeU64(UInt64(bitPattern: epoch))
        }
        return w.bytes
    }

    static func decodeReply(_ bytes: [UInt8]) throws -> AppendReply {
        var r = WireReader(bytes)
        let reply: AppendReply
        switch try r.readU8() {
        case 0: reply = .ack(lsn: Int64(bitPattern: try r.readU64()))
        case 1: reply = .mismatch(lastLSN: Int64(bitPattern: try r.readU64()), lastTerm: Int64(bitPattern: try r.readU64()))
        case 2: reply = .refuse(epoch: Int64(bitPattern: try r.readU64()))
        default: throw Malformed()
        }
        try r.expectEnd()
        return reply
    }

    static func shardEpoch(_ shard: Int, _ epoch: Int64) -> [UInt8] {
        var w = WireWriter()
        w.writeU32(UInt32(shard)); w.writeU64(UInt64(bitPattern: epoch))
        return w.bytes
    }

    static func decodeShardEpoch(_ bytes: [UInt8], maxShard: Int) throws -> (shard: Int, epoch: Int64) {
        var r = WireReader(bytes)
        let shard = Int(try r.readU32()), epoch = Int64(bitPattern: try r.readU64())
        guard shard < maxShard else { throw Malformed() }
        try r.expectEnd()
        return (shard, epoch)
    }

    /// holdQuery answer: the primary's epoch and whether it needs the copy (epoch -1: not the primary).
    static func holdAnswer(epoch: Int64, needed: Bool) -> [UInt8] {
        var w = WireWriter()
        w.writeU64(UInt64(bitPattern: epoch)); w.writeU8(needed ? 1 : 0)
        return w.bytes
    }

    static func decodeHoldAnswer(_ bytes: [UInt8]) throws -> (epoch: Int64, needed: Bool) {
        var r = WireReader(bytes)
        let epoch = Int64(bitPattern: try r.readU64()), needed = try r.readU8() == 1
        try r.expectEnd()
        return (epoch, needed)
    }
}
