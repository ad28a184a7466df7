/// Node-to-node messages as the cluster's shells send them: the node's `PeerTransport`, or a
/// simulated network, so the same shell code runs in a node and in a simulated cluster.
public protocol PeerMessenger: AnyObject {
    /// A request; `reply` is called exactly once, never from inside this call.
    func request(_ peer: String, operation: UInt16, payload: [UInt8], timeoutMs: Int64?,
                 reply: @escaping (Result<[UInt8], PeerError>) -> Void)
    /// Fire-and-forget, ordered per peer, best effort.
    func send(_ peer: String, operation: UInt16, payload: [UInt8])
}

extension PeerMessenger {
    public func request(_ peer: String, operation: UInt16, payload: [UInt8],
                        reply: @escaping (Result<[UInt8], PeerError>) -> Void) {
        request(peer, operation: operation, payload: payload, timeoutMs: nil, reply: reply)
    }
}

extension PeerTransport: PeerMessenger {}
