/// One node's acceptor state for every shard's configuration register (CASPaxos: Rystsov,
/// "CASPaxos: Replicated State Machines without logs", 2018, section 2). A change first
/// prepares a ballot on a majority (each promises to ignore lower ballots and reports what it
/// accepted), then asks them to accept the new value under that ballot. Together these make
/// every committed config derive from the previous committed one, whatever the interleaving.
/// The node must store its state durably before it answers.
public struct ConfigAcceptor: Sendable {
    public struct Slot: Sendable, Equatable {
        public var promised: Ballot = .zero
        public var accepted: (ballot: Ballot, config: ShardConfig)?

        public init(promised: Ballot = .zero, accepted: (ballot: Ballot, config: ShardConfig)? = nil) {
            self.promised = promised
            self.accepted = accepted
        }

        public static func == (a: Slot, b: Slot) -> Bool {
            a.promised == b.promised && a.accepted?.ballot == b.accepted?.ballot && a.accepted?.config == b.accepted?.config
        }
    }

    public private(set) var slots: [Int: Slot] = [:]

    public init(_ slots: [Int: Slot] = [:]) { self.slots = slots }

    public enum PrepareAnswer: Sendable, Equatable {
        case promise(accepted: ShardConfig?, acceptedBallot: Ballot)
        case reject(promised: Ballot)
    }

    public mutating func prepare(shard: Int, ballot: Ballot) -> PrepareAnswer {
        var slot = slots[shard] ?? Slot()
        guard ballot > slot.promised, ballot > (slot.accepted?.ballot ?? .zero) else { return .reject(promised: slot.promised) }
        slot.promised = ballot
        slots[shard] = slot
        return .promise(accepted: slot.accepted?.config, acceptedBallot: slot.accepted?.ballot ?? .zero)
    }

    /// True when accepted.
    public mutating func accept(shard: Int, ballot: Ballot, config: ShardConfig) -> Bool {
        var slot = slots[shard] ?? Slot()
        guard ballot >= slot.promised, ballot > (slot.accepted?.ballot ?? .zero) else { return false }
        slot.promised = ballot
        slot.accepted = (ballot, config)
        slots[shard] = slot
        return true
    }

    /// The last config this node accepted for the shard: a hint, not the committed value
    /// (only a change's prepare phase learns that).
    public func accepted(shard: Int) -> ShardConfig? { slots[shard]?.accepted?.config }
}
