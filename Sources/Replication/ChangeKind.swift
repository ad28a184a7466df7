/// The changes a node proposes to a shard's configuration register, each a rule applied to
/// the register's current value (the one the prepare phase found), never to what the
/// proposer believed: a rule whose premise no longer holds returns nil and changes nothing.
public enum ChangeKind: Sendable, Equatable, CustomStringConvertible {
    /// "I lead this shard": commit it again under a new epoch. A node does this before it
    /// serves a shard after a restart, so its new writes never reuse an old term.
    case confirm
    /// The primary is dead: the proposer, an in-sync replica, takes over.
    case failover(dead: String)
    /// The primary drops a replica that stopped answering (or is no longer wanted).
    case remove(String)
    /// The primary adds a replica that holds every entry.
    case add(String)
    /// The primary hands the shard to an in-sync replica (the first of its preference list).
    case handover(to: String)
    /// A config a change of ours found accepted, maybe never announced: commit it again as is
    /// (under a new epoch) so that every node learns it.
    case adopt

    public func next(current: ShardConfig, me: String) -> ShardConfig? {
        switch self {
        case .confirm:
            return current.primary == me ? current : nil
        case .adopt:
            return current
        case .failover(let dead):
            guard current.primary == dead, dead != me, current.isr.contains(me) else { return nil }
            return ShardConfig(epoch: 0, primary: me, isr: [me] + current.isr.filter { $0 != dead && $0 != me })
        case .remove(let node):
            guard current.primary == me, node != me else { return nil }
            return ShardConfig(epoch: 0, primary: me, isr: current.isr.filter { $0 != node })
        case .add(let node):
            guard current.primary == me else { return nil }
            return ShardConfig(epoch: 0, primary: me, isr: current.isr.contains(node) ? current.isr : current.isr + [node])
        case .handover(let to):
            guard current.primary == me, to != me, current.isr.contains(to) else { return nil }
            return ShardConfig(epoch: 0, primary: to, isr: current.isr)
        }
    }

    public var description: String {
        switch self {
        case .confirm: return "confirm"
        case .adopt: return "adopt"
        case .failover(let dead): return "failover from \(dead)"
        case .remove(let node): return "remove \(node)"
        case .add(let node): return "add \(node)"
        case .handover(let to): return "hand over to \(to)"
        }
    }
}

/// A follower's answer to an append (log entries from a primary).
public enum AppendReply: Sendable, Equatable {
    /// It holds every entry up to this LSN.
    case ack(lsn: Int64)
    /// The entries do not continue its log; its last entry is this one.
    case mismatch(lastLSN: Int64, lastTerm: Int64)
    /// It has seen a newer epoch: the sender is not the primary any more.
    case refuse(epoch: Int64)
}
