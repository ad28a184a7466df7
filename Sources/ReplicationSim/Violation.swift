/// The properties the checker holds a run to (docs/REPLICATION.md, "How it will be shown").
public enum Invariant: String, Sendable, CaseIterable {
    /// Every acked (conversation, client_id) is in the final state of its shard's primary,
    /// with the acked seq.
    case ackedMessageLost
    /// A client_id appears once per conversation.
    case duplicateMessage
    /// Each conversation's seqs are 1...n.
    case seqGap
    /// Every copy in the final isr equals the primary's (log and state).
    case copiesDiverge
    /// Two acks gave one (conversation, seq) to different client_ids, or one client_id two seqs.
    case conflictingAcks
    /// A primary released entries an isr member of its config does not hold (online check of
    /// the rule the acks rest on).
    case releasedBeyondIsr
    /// Two different configs of one shard were committed with the same epoch (the register
    /// forked).
    case configFork
    /// A primary released entries while its config's isr held fewer than R nodes although it
    /// saw R nodes alive (issue 10: an ack means R copies while R nodes are alive).
    case releasedUnderR
    /// After healing, a shard has no primary that serves it.
    case noServingPrimary
    /// After healing, the cluster did not settle: a client never got an answer, copies stayed
    /// behind, or a shard was not handed back to its preferred node in time.
    case notSettled
    /// After healing, a write to some shard was not acked in time.
    case finalWriteNotAcked
    /// A scripted client's step (a group change, a credit, a tip) was refused for a reason other
    /// than `unavailable` (Scripts.swift).
    case scriptStepRefused
    /// A scripted client's answered steps do not add up to the final state: a group's `system`
    /// messages are not exactly its changes in order, its members not what they add up to, a
    /// member's index does not list it (Groups.swift); a tip was charged twice, a balance or
    /// received total is off, a charged tip is not stored once (Tips.swift).
    case scriptStateWrong
}

public struct Violation: Error, Sendable, CustomStringConvertible {
    public var invariant: Invariant
    public var atMs: Int64
    public var detail: String

    public var description: String { "[\(invariant.rawValue)] at \(atMs) ms: \(detail)" }
}

/// Every ack a client received, checked as it arrives: one (conversation, seq) is never
/// given to two client_ids, and one client_id never gets two seqs.
struct AckLedger {
    struct Ack: Sendable, Equatable {
        var conversation: Int
        var clientID: Int
        var seq: Int64
        var node: Int
        var atMs: Int64
    }

    private struct Slot: Hashable {
        var conversation: Int
        var seq: Int64
    }

    private(set) var byClientID: [Int: Ack] = [:]
    private var bySlot: [Slot: Int] = [:]
    /// In the order they arrived (reports and the final check use this order).
    private(set) var all: [Ack] = []

    /// Records an ack; a violation when it contradicts an earlier one.
    mutating func record(_ ack: Ack) -> Violation? {
        if let first = byClientID[ack.clientID] {
            guard first.seq == ack.seq, first.conversation == ack.conversation else {
                return Violation(invariant: .conflictingAcks, atMs: ack.atMs,
                                 detail: "c\(ack.clientID) acked seq \(first.seq) by n\(first.node + 1) at \(first.atMs) ms, "
                                    + "then seq \(ack.seq) by n\(ack.node + 1)")
            }
            return nil
        }
        let slot = Slot(conversation: ack.conversation, seq: ack.seq)
        if let other = bySlot[slot], other != ack.clientID {
            return Violation(invariant: .conflictingAcks, atMs: ack.atMs,
                             detail: "conv\(ack.conversation) seq \(ack.seq) acked to c\(other) and to c\(ack.clientID) (by n\(ack.node + 1))")
        }
        bySlot[slot] = ack.clientID
        byClientID[ack.clientID] = ack
        all.append(ack)
        return nil
    }
}
