/// Sends a shard request to the node that leads the shard and calls back with its reply.
/// One node leads every shard of a one-node cluster; the cluster's router forwards the
/// requests for shards led elsewhere over the peer protocol.
public protocol ShardRouter: AnyObject {
    func call(_ request: ShardRequest, reply: @escaping ShardService.Reply)
}

/// Serves every request on this node.
public final class LocalRouter: ShardRouter {
    let service: ShardService
    public init(service: ShardService) { self.service = service }
    public func call(_ request: ShardRequest, reply: @escaping ShardService.Reply) {
        service.handle(request, reply: reply)
    }
}

extension ShardRouter {
    /// Sends all the requests at once; `done` gets the replies in the requests' order.
    func callAll(_ requests: [ShardRequest], done: @escaping ([Result<ShardReply, ChatError>]) -> Void) {
        guard !requests.isEmpty else { return done([]) }
        var results = [Result<ShardReply, ChatError>?](repeating: nil, count: requests.count)
        var remaining = requests.count
        for (i, request) in requests.enumerated() {
            call(request) { result in
                results[i] = result
                remaining -= 1
                if remaining == 0 { done(results.map { $0! }) }
            }
        }
    }
}
