/// One piece of membership news, piggybacked on any message (SWIM 4.1 infection-style
/// dissemination). The incarnation orders news about the same member (SWIM 4.2).
public struct MemberUpdate: Sendable, Equatable {
    public enum Kind: Sendable, Equatable {
        /// The member is alive at this incarnation, with this metadata.
        case alive(meta: [UInt8])
        /// `accuser` (a member name) failed to probe it; distinct accusers are the
        /// independent confirmations of Lifeguard IV-B.
        case suspect(accuser: String)
        /// A suspicion expired somewhere.
        case dead
        /// The member announced its own graceful departure.
        case left
    }

    public var id: MemberID
    public var incarnation: UInt64
    public var kind: Kind

    public init(id: MemberID, incarnation: UInt64, kind: Kind) {
        self.id = id
        self.incarnation = incarnation
        self.kind = kind
    }
}

/// One part of a full state exchange (memberlist's push-pull, carried over UDP here): the
/// sender's whole view split over as many datagrams as needed. Each part stands alone (it
/// is merged as it arrives, nothing is reassembled), so a lost part only delays
/// convergence until gossip or the next exchange fills the gap.
public struct PushPull: Sendable, Equatable {
    /// A request wants our view back; a reply does not.
    public var isReply: Bool
    /// This part's index, 0-based; the receiver of a request replies on part 0 only.
    public var part: UInt16
    public var partCount: UInt16
    public var source: MemberID
    public var members: [Member]

    public init(isReply: Bool, part: UInt16, partCount: UInt16, source: MemberID, members: [Member]) {
        self.isReply = isReply
        self.part = part
        self.partCount = partCount
        self.source = source
        self.members = members
    }
}

/// The body of a datagram. Sequence numbers pair acks and nacks with their probe.
public enum GossipMessage: Sendable, Equatable {
    /// SWIM 3.1 direct probe. `target` lets a member that restarted on the same address under
    /// another name ignore probes meant for its predecessor.
    case ping(seq: UInt32, source: MemberID, target: MemberID)
    /// Answer to a ping, or relayed by a helper to the member that asked for the ping-req.
    case ack(seq: UInt32, source: MemberID)
    /// SWIM 3.1 indirect probe: `source` asks us to ping `target` for it.
    case pingReq(seq: UInt32, source: MemberID, target: MemberID)
    /// Lifeguard IV-A: the helper `source` got no ack from the target in time.
    case nack(seq: UInt32, source: MemberID)
    /// Full state exchange (join, anti-entropy).
    case pushPull(PushPull)
    /// Only the piggybacked updates (the gossip timer's message).
    case gossip
}

/// A decoded datagram: a message and the updates piggybacked on it.
public struct GossipDatagram: Sendable, Equatable {
    public var message: GossipMessage
    public var updates: [MemberUpdate]

    public init(message: GossipMessage, updates: [MemberUpdate] = []) {
        self.message = message
        self.updates = updates
    }
}
