import Wire

/// What a node tells the cluster about itself through gossip (the member's `meta` bytes):
/// where clients and peers reach it, and when it first joined the ring. `joinedAt` orders
/// the ring (see `ClusterView`); nodes of the config file that start the cluster use 0.
public struct NodeMeta: Sendable, Equatable {
    public var client: String
    public var peer: String
    public var joinedAt: Int64

    public init(client: String, peer: String, joinedAt: Int64) {
        self.client = client
        self.peer = peer
        self.joinedAt = joinedAt
    }

    static let version: UInt8 = 1

    public func encoded() -> [UInt8] {
        var w = WireWriter()
        w.writeU8(Self.version)
        w.writeShortString(client)
        w.writeShortString(peer)
        w.writeU64(UInt64(bitPattern: joinedAt))
        return w.bytes
    }

    /// nil for bytes of another version or malformed: such a member is shown but not routed to.
    public static func decode(_ bytes: [UInt8]) -> NodeMeta? {
        var r = WireReader(bytes)
        guard let version = try? r.readU8(), version == Self.version,
              let client = try? r.readShortString(maxBytes: 64), let peer = try? r.readShortString(maxBytes: 64),
              let joinedAt = try? r.readU64() else { return nil }
        return NodeMeta(client: client, peer: peer, joinedAt: Int64(bitPattern: joinedAt))
    }
}
