import Replication

/// One attempt of a client's send: a chat message for a conversation, idempotent on its
/// client id (every attempt of one send carries the same one).
public struct ClientWrite: Sendable, Equatable, CustomStringConvertible {
    public var sendID: Int
    public var attempt: Int
    public var conversation: Int
    public var clientID: Int

    public var description: String { "send \(sendID) (c\(clientID) conv\(conversation), attempt \(attempt))" }
}

/// A node's answer to a write.
public enum WriteOutcome: Sendable, Equatable {
    case ack(seq: Int64)
    /// `retryAfterMs` 0: the primary changed under the request (the router tries again);
    /// otherwise the client should.
    case unavailable(String, retryAfterMs: Int64)
}

/// What travels between nodes. Requests carry the requester's life (incarnation) and
/// replies echo it: a reply to a process that has since restarted is lost with the
/// connection it was asked on, as over TCP.
enum NodeMessage {
    case register(ReplicaMessage)
    case append(shard: Int, epoch: Int64, generation: UInt64, prevLSN: Int64, prevTerm: Int64, entries: [LogEntry], requesterLife: Int)
    case appendReply(shard: Int, epoch: Int64, generation: UInt64, AppendReply, snapshotID: Int?)
    /// The whole shard (log and state) in one message, the simulated snapshot transfer.
    case snapshot(shard: Int, epoch: Int64, generation: UInt64, ShardCopy, id: Int, requesterLife: Int)
    /// A client's write forwarded to the primary the forwarding node's router chose.
    case forward(ClientWrite, requestID: Int, requesterLife: Int)
    case forwardReply(requestID: Int, WriteOutcome)

    var kind: String {
        switch self {
        case .register(let m):
            switch m {
            case .prepare: return "prepare"
            case .promise: return "promise"
            case .accept: return "accept"
            case .accepted: return "accepted"
            case .learn: return "learn"
            case .table: return "table"
            }
        case .append: return "append"
        case .appendReply: return "appendReply"
        case .snapshot: return "snapshot"
        case .forward: return "forward"
        case .forwardReply: return "forwardReply"
        }
    }
}
