import Gossip
import Ring

/// The cluster as this node sees it: the members gossip reports, the ring they form, and who
/// leads each shard now. Pure: updated from gossip's member changes, read by routing.
///
/// Ring membership is not liveness. A member is in the ring from its first appearance until it
/// leaves gracefully; a dead member keeps its ring positions (its shards wait for it, or fail
/// over to a replica), because data lives where the ring put it. So the ring changes only on
/// joins and leaves, and every node that has seen the same joins and leaves computes the same
/// placement: the members in `(joinedAt, id)` order, each added with `Placement.adding`, which
/// moves shards only to the newcomer (docs/RING.md).
public struct ClusterView: Sendable {
    public struct Node: Sendable, Equatable {
        public var id: String
        public var gossip: String
        public var status: MemberStatus
        public var incarnation: UInt64
        public var meta: NodeMeta?

        public init(id: String, gossip: String, status: MemberStatus, incarnation: UInt64, meta: NodeMeta?) {
            self.id = id
            self.gossip = gossip
            self.status = status
            self.incarnation = incarnation
            self.meta = meta
        }
    }

    public let shardCount: Int
    public let replication: Int
    public private(set) var nodes: [String: Node] = [:]
    public private(set) var placement: Placement
    /// Rises by one each time the ring's member set changes.
    public private(set) var ringVersion: UInt64 = 1
    private var ringMembers: [String] = []

    public init(me: Node, shardCount: Int, replication: Int) {
        self.shardCount = shardCount
        self.replication = replication
        nodes[me.id] = me
        placement = Placement(nodes: [], shardCount: shardCount, replication: replication)
        rebuildRing()
    }

    /// Applies a member's new state. Returns true when the ring (placement) changed.
    @discardableResult
    public mutating func update(_ member: Member) -> Bool {
        let node = Node(id: member.id.name, gossip: member.id.address, status: member.status,
                        incarnation: member.incarnation, meta: NodeMeta.decode(member.meta))
        nodes[node.id] = node
        return rebuildRing()
    }

    /// The members that hold ring positions, in ring order.
    public var ring: [String] { ringMembers }

    @discardableResult
    private mutating func rebuildRing() -> Bool {
        let members = nodes.values
            .filter { $0.status != .left && $0.meta != nil }
            .sorted { ($0.meta!.joinedAt, $0.id) < ($1.meta!.joinedAt, $1.id) }
            .map(\.id)
        guard members != ringMembers else { return false }
        ringMembers = members
        var placement = Placement(nodes: [], shardCount: shardCount, replication: replication)
        for id in members { placement = placement.adding(id) }
        self.placement = placement
        ringVersion += 1
        return true
    }

    public func isAlive(_ id: String) -> Bool { nodes[id]?.status.isInCluster ?? false }

    /// Live members other than `me`, for broadcasts.
    public func liveNodes(except me: String) -> [String] {
        nodes.values.filter { $0.id != me && $0.status.isInCluster && $0.meta != nil }.map(\.id).sorted()
    }
}
