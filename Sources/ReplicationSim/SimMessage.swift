import Peer

/// One attempt of a client's send: a chat message for a conversation, idempotent on its
/// client id (every attempt of one send carries the same one).
public struct ClientWrite: Sendable, Equatable, CustomStringConvertible {
    public var sendID: Int
    public var attempt: Int
    public var conversation: Int
    public var clientID: Int

    public var description: String { "send \(sendID) (c\(clientID) conv\(conversation), attempt \(attempt))" }
}

/// A node's answer to a write, as its client sees it.
public enum WriteOutcome: Sendable, Equatable {
    case ack(seq: Int64)
    case unavailable(String, retryAfterMs: Int64)
}

/// What travels between nodes: the peer protocol's requests, responses and oneways, with
/// the payloads the production code encodes. A request carries the requester's life
/// (incarnation) and its response echoes it: a response to a process that has since
/// restarted is lost with the connection it was asked on, as over TCP.
enum NodeMessage {
    case request(id: Int, operation: UInt16, payload: [UInt8], requesterLife: Int)
    case response(id: Int, Result<[UInt8], PeerError>)
    case oneway(operation: UInt16, payload: [UInt8])

    var kind: String {
        switch self {
        case .request(_, let op, _, _): return "request \(op)"
        case .response: return "response"
        case .oneway(let op, _): return "oneway \(op)"
        }
    }
}
