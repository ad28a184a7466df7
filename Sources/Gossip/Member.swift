/// Who a member is: a unique name and the "host:port" of its gossip (UDP) endpoint.
/// Ordered by name, then address, so every list built from members is deterministic.
public struct MemberID: Hashable, Sendable, Comparable, CustomStringConvertible {
    public let name: String
    public let address: String

    public init(name: String, address: String) {
        self.name = name
        self.address = address
    }

    public static func < (lhs: MemberID, rhs: MemberID) -> Bool {
        (lhs.name, lhs.address) < (rhs.name, rhs.address)
    }

    public var description: String { "\(name)@\(address)" }

    /// True when both fields fit the codec's bounds (`GossipLimits`).
    public var isEncodable: Bool {
        !name.isEmpty && name.utf8.count <= GossipLimits.maxNameBytes
            && !address.isEmpty && address.utf8.count <= GossipLimits.maxAddressBytes
    }
}

/// A member's state as this node sees it (SWIM 4.2: alive → suspect → dead; `left` is a
/// graceful departure announced by the member itself).
public enum MemberStatus: UInt8, Sendable, Equatable, CustomStringConvertible {
    case alive = 0
    case suspect = 1
    case dead = 2
    case left = 3

    /// Alive and suspect members are still in the cluster (they own ring positions).
    public var isInCluster: Bool { self == .alive || self == .suspect }

    public var description: String {
        switch self {
        case .alive: "alive"
        case .suspect: "suspect"
        case .dead: "dead"
        case .left: "left"
        }
    }
}

/// One entry of the membership view.
public struct Member: Sendable, Equatable, CustomStringConvertible {
    public let id: MemberID
    public var status: MemberStatus
    /// Raised only by the member itself, to refute a suspicion (SWIM 4.2).
    public var incarnation: UInt64
    /// Small opaque bytes the shell attaches (the node's client and peer addresses);
    /// at most `GossipLimits.maxMetaBytes`.
    public var meta: [UInt8]

    public init(id: MemberID, status: MemberStatus, incarnation: UInt64, meta: [UInt8]) {
        self.id = id
        self.status = status
        self.incarnation = incarnation
        self.meta = meta
    }

    public var description: String { "\(id) \(status)#\(incarnation)" }
}
