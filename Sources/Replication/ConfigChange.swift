/// One change of a shard's configuration register across the ring's members: the proposer
/// side of CASPaxos. Prepare a ballot on a majority, take the value accepted under the
/// highest ballot among their answers (nil if none), build the next config from it with the
/// caller's rule (its epoch one above), have a majority accept it. Pure: the shell sends the
/// messages and feeds the answers back; a member that does not answer is never heard from
/// (the shell gives the change a deadline).
public struct ConfigChange: Sendable {
    public enum Action: Sendable, Equatable {
        case wait
        /// Send `accept(ballot, config)` to every member.
        case accept(Ballot, ShardConfig)
        /// A majority accepted it: it is the shard's config now.
        case committed(ShardConfig)
        /// The rule found nothing to change, or a higher ballot got in the way (retry with a
        /// ballot above `seen`).
        case abandoned(reason: String, seen: Ballot)
    }

    private enum State: Sendable {
        case preparing(promises: [String: (ShardConfig?, Ballot)], rejects: Set<String>, highest: Ballot)
        case accepting(ShardConfig, yes: Set<String>, no: Set<String>)
        case finished
    }

    public let shard: Int
    public let members: [String]
    public let ballot: Ballot
    private let next: @Sendable (ShardConfig?) -> ShardConfig?
    private var state: State
    /// The value the prepare phase found (the one accepted under the highest ballot among a
    /// majority): not necessarily committed, but the newest any later change can build on.
    public private(set) var observed: ShardConfig?

    public var majority: Int { members.count / 2 + 1 }

    /// `next` builds the new config from the current one (nil: none yet); returning nil means
    /// nothing to change. The new config's epoch is set here, one above the current one.
    public init(shard: Int, members: [String], ballot: Ballot, next: @escaping @Sendable (ShardConfig?) -> ShardConfig?) {
        self.shard = shard
        self.members = members
        self.ballot = ballot
        self.next = next
        state = .preparing(promises: [:], rejects: [], highest: ballot)
    }

    public mutating func onPrepare(from node: String, _ answer: ConfigAcceptor.PrepareAnswer) -> Action {
        guard case .preparing(var promises, var rejects, var highest) = state, members.contains(node) else { return .wait }
        switch answer {
        case .promise(let config, let acceptedBallot): promises[node] = (config, acceptedBallot)
        case .reject(let promised):
            rejects.insert(node)
            highest = max(highest, promised)
        }
        if rejects.count > members.count - majority {
            state = .finished
            return .abandoned(reason: "a higher ballot was promised", seen: highest)
        }
        guard promises.count >= majority else {
            state = .preparing(promises: promises, rejects: rejects, highest: highest)
            return .wait
        }
        let current = promises.values.max { $0.1 < $1.1 }?.0
        observed = current
        guard var proposal = next(current) else {
            state = .finished
            return .abandoned(reason: "nothing to change", seen: highest)
        }
        proposal.epoch = (current?.epoch ?? 0) + 1
        state = .accepting(proposal, yes: [], no: [])
        return .accept(ballot, proposal)
    }

    public mutating func onAccept(from node: String, accepted: Bool) -> Action {
        guard case .accepting(let proposal, var yes, var no) = state, members.contains(node) else { return .wait }
        if accepted { yes.insert(node) } else { no.insert(node) }
        if yes.count >= majority {
            state = .finished
            return .committed(proposal)
        }
        if no.count > members.count - majority {
            state = .finished
            return .abandoned(reason: "a higher ballot got in", seen: ballot)
        }
        state = .accepting(proposal, yes: yes, no: no)
        return .wait
    }
}
