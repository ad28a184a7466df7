/// The binary wire format. Every datagram:
///
///     version u8 (= 1) | kind u8 | body | updateCount u8 | updates
///
/// Integers are big-endian; strings and meta are u8-length-prefixed (bounds in
/// `GossipLimits`). An update is `kind u8 | incarnation u64 | id | payload` where the payload
/// is meta for alive, the accuser's name for suspect, nothing for dead and left. A member id
/// is `name | address`. Bodies:
///
///     ping      seq u32 | source id | target id
///     ack       seq u32 | source id
///     ping-req  seq u32 | source id | target id
///     nack      seq u32 | source id
///     push-pull flags u8 (bit 0: reply) | part u16 | partCount u16 | source id |
///               count u16 | count × (status u8 | incarnation u64 | id | meta)
///     gossip    (empty)
///
/// The decoder checks every length against what is left and rejects trailing bytes.
public enum GossipCodec {
    public static let version: UInt8 = 1

    enum Kind: UInt8 {
        case ping = 1, ack = 2, pingReq = 3, nack = 4, pushPull = 5, gossip = 6
    }

    enum UpdateKind: UInt8 {
        case alive = 0, suspect = 1, dead = 2, left = 3
    }

    /// Bytes of a push-pull datagram before its first member entry (largest ids).
    static let pushPullHeaderMaxBytes = 2 + 1 + 2 + 2 + (2 + GossipLimits.maxNameBytes + GossipLimits.maxAddressBytes) + 2 + 1

    /// A whole datagram: the message followed by its updates.
    public static func encode(_ datagram: GossipDatagram) -> [UInt8] {
        encode(datagram.message, encodedUpdates: datagram.updates.map(encode(update:)))
    }

    /// The message followed by updates already encoded with `encode(update:)`
    /// (at most 255 of them; the caller keeps the total within its datagram budget).
    public static func encode(_ message: GossipMessage, encodedUpdates: [[UInt8]]) -> [UInt8] {
        var w = ByteWriter()
        w.u8(version)
        switch message {
        case let .ping(seq, source, target):
            w.u8(Kind.ping.rawValue); w.u32(seq); w.id(source); w.id(target)
        case let .ack(seq, source):
            w.u8(Kind.ack.rawValue); w.u32(seq); w.id(source)
        case let .pingReq(seq, source, target):
            w.u8(Kind.pingReq.rawValue); w.u32(seq); w.id(source); w.id(target)
        case let .nack(seq, source):
            w.u8(Kind.nack.rawValue); w.u32(seq); w.id(source)
        case let .pushPull(p):
            w.u8(Kind.pushPull.rawValue)
            w.u8(p.isReply ? 1 : 0)
            w.u16(p.part); w.u16(p.partCount)
            w.id(p.source)
            w.u16(UInt16(truncatingIfNeeded: p.members.count))
            for m in p.members { w.bytes.append(contentsOf: encode(entry: m)) }
        case .gossip:
            w.u8(Kind.gossip.rawValue)
        }
        let updates = encodedUpdates.prefix(255)
        w.u8(UInt8(updates.count))
        for u in updates { w.bytes.append(contentsOf: u) }
        return w.bytes
    }

    public static func encode(update u: MemberUpdate) -> [UInt8] {
        var w = ByteWriter()
        switch u.kind {
        case .alive: w.u8(UpdateKind.alive.rawValue)
        case .suspect: w.u8(UpdateKind.suspect.rawValue)
        case .dead: w.u8(UpdateKind.dead.rawValue)
        case .left: w.u8(UpdateKind.left.rawValue)
        }
        w.u64(u.incarnation)
        w.id(u.id)
        switch u.kind {
        case let .alive(meta): w.short(meta)
        case let .suspect(accuser): w.string(accuser)
        case .dead, .left: break
        }
        return w.bytes
    }

    /// One push-pull entry.
    static func encode(entry m: Member) -> [UInt8] {
        var w = ByteWriter()
        w.u8(m.status.rawValue)
        w.u64(m.incarnation)
        w.id(m.id)
        w.short(m.meta)
        return w.bytes
    }

    public static func decode(_ bytes: [UInt8]) throws(GossipDecodeError) -> GossipDatagram {
        guard !bytes.isEmpty else { throw .empty }
        guard bytes.count <= GossipLimits.maxUDPPayloadBytes else { throw .tooLong(bytes: bytes.count) }
        var r = ByteReader(bytes)
        let v = try r.u8()
        guard v == version else { throw .unsupportedVersion(v) }
        let rawKind = try r.u8()
        guard let kind = Kind(rawValue: rawKind) else { throw .unknownMessageKind(rawKind) }
        let message: GossipMessage
        switch kind {
        case .ping: message = .ping(seq: try r.u32(), source: try r.id(), target: try r.id())
        case .ack: message = .ack(seq: try r.u32(), source: try r.id())
        case .pingReq: message = .pingReq(seq: try r.u32(), source: try r.id(), target: try r.id())
        case .nack: message = .nack(seq: try r.u32(), source: try r.id())
        case .pushPull: message = .pushPull(try decodePushPull(&r))
        case .gossip: message = .gossip
        }
        let count = Int(try r.u8())
        var updates: [MemberUpdate] = []
        updates.reserveCapacity(min(count, r.remaining / 11))
        for _ in 0..<count { updates.append(try decodeUpdate(&r)) }
        guard r.remaining == 0 else { throw .trailingBytes(count: r.remaining) }
        return GossipDatagram(message: message, updates: updates)
    }

    private static func decodePushPull(_ r: inout ByteReader) throws(GossipDecodeError) -> PushPull {
        let flags = try r.u8()
        guard flags <= 1 else { throw .unknownFlags(flags) }
        let part = try r.u16()
        let partCount = try r.u16()
        guard part < partCount else { throw .invalidPushPullPart }
        let source = try r.id()
        let count = Int(try r.u16())
        var members: [Member] = []
        // Each entry takes at least 12 bytes, so `remaining` bounds the reservation.
        members.reserveCapacity(min(count, r.remaining / 12))
        for _ in 0..<count {
            let rawStatus = try r.u8()
            guard let status = MemberStatus(rawValue: rawStatus) else { throw .unknownStatus(rawStatus) }
            let incarnation = try r.u64()
            let id = try r.id()
            let meta = try r.short(maxBytes: GossipLimits.maxMetaBytes, allowEmpty: true)
            members.append(Member(id: id, status: status, incarnation: incarnation, meta: meta))
        }
        return PushPull(isReply: flags & 1 == 1, part: part, partCount: partCount, source: source, members: members)
    }

    private static func decodeUpdate(_ r: inout ByteReader) throws(GossipDecodeError) -> MemberUpdate {
        let rawKind = try r.u8()
        guard let kind = UpdateKind(rawValue: rawKind) else { throw .unknownUpdateKind(rawKind) }
        let incarnation = try r.u64()
        let id = try r.id()
        switch kind {
        case .alive:
            let meta = try r.short(maxBytes: GossipLimits.maxMetaBytes, allowEmpty: true)
            return MemberUpdate(id: id, incarnation: incarnation, kind: .alive(meta: meta))
        case .suspect:
            let accuser = try r.string(maxBytes: GossipLimits.maxNameBytes)
            return MemberUpdate(id: id, incarnation: incarnation, kind: .suspect(accuser: accuser))
        case .dead:
            return MemberUpdate(id: id, incarnation: incarnation, kind: .dead)
        case .left:
            return MemberUpdate(id: id, incarnation: incarnation, kind: .left)
        }
    }
}
