import Peer

/// Where a peer's messages and requests go on this node: the connection directory, the
/// replication shell, and (for shard operations) the router. One table, used by the node's
/// `PeerTransport` and by the simulation's network alike.
public final class PeerDispatch {
    unowned let replicator: Replicator
    unowned let router: ClusterRouter
    /// Nil where no client connects (the simulation).
    let directory: Directory?
    /// Requests with codes `ClusterOp.assetFirst...assetLast`: the node's asset files
    /// (RelayNode/AssetStore.swift), which this module knows nothing of.
    public var assetRequests: ((_ from: String, _ operation: UInt16, _ payload: [UInt8],
                                _ respond: @escaping (Result<[UInt8], PeerHandlerError>) -> Void) -> Void)?

    public init(replicator: Replicator, router: ClusterRouter, directory: Directory?) {
        self.replicator = replicator
        self.router = router
        self.directory = directory
    }

    /// A oneway.
    public func message(from: String, operation: UInt16, payload: [UInt8]) {
        switch ClusterOp(rawValue: operation) {
        case .pushEvent: directory?.received(pushEvent: payload)
        case .presence: directory?.received(presence: payload, from: from)
        case .directorySnapshot: directory?.received(snapshot: payload, from: from)
        case .logout: directory?.received(logout: payload)
        case .register: replicator.received(register: payload, from: from)
        default: break
        }
    }

    /// A request: `respond` is called exactly once, now or later.
    public func request(from: String, operation: UInt16, payload: [UInt8],
                        respond: @escaping (Result<[UInt8], PeerHandlerError>) -> Void) {
        if (ClusterOp.assetFirst...ClusterOp.assetLast).contains(operation) {
            guard let assetRequests else { return respond(.failure(PeerHandlerError("no assets here"))) }
            return assetRequests(from, operation, payload, respond)
        }
        switch ClusterOp(rawValue: operation) {
        case .append: replicator.answerAppend(payload, from: from, respond: respond)
        case .snapshotOffer: replicator.answerSnapshotOffer(payload, from: from, respond: respond)
        case .snapshotBegin: replicator.answerSnapshotBegin(payload, from: from, respond: respond)
        case .snapshotChunk: replicator.answerSnapshotChunk(payload, from: from, respond: respond)
        case .snapshotDone: respond(replicator.answerSnapshotDone(payload, from: from))
        case .holdQuery: respond(replicator.answerHoldQuery(payload, from: from))
        case .linkProbe: replicator.answerLinkProbe(respond: respond)
        case .relay: router.relay(payload, from: from, respond: respond)
        default: router.serve(operation: operation, payload: payload, respond: respond)
        }
    }
}
