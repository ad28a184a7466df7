/// Sends a shard operation to the node that leads its shard and calls back with the reply.
/// One node leads every shard of a one-node cluster; the cluster's router forwards the
/// operations for shards led elsewhere over the peer protocol.
public protocol ShardRouter: AnyObject {
    func call<Op: ShardOperation>(_ op: Op, reply: @escaping (Result<Op.Reply, ChatError>) -> Void)
}

/// Serves every operation on this node.
public final class LocalRouter: ShardRouter {
    let service: ShardService
    public init(service: ShardService) { self.service = service }
    public func call<Op: ShardOperation>(_ op: Op, reply: @escaping (Result<Op.Reply, ChatError>) -> Void) {
        service.handle(op, reply: reply)
    }
}

extension ShardRouter {
    /// Sends all the operations at once; `done` gets the replies in the operations' order.
    public func callAll<Op: ShardOperation>(_ ops: [Op], done: @escaping ([Result<Op.Reply, ChatError>]) -> Void) {
        guard !ops.isEmpty else { return done([]) }
        var results = [Result<Op.Reply, ChatError>?](repeating: nil, count: ops.count)
        var remaining = ops.count
        for (i, op) in ops.enumerated() {
            call(op) { result in
                results[i] = result
                remaining -= 1
                if remaining == 0 { done(results.map { $0! }) }
            }
        }
    }
}
