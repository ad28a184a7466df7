import Chat

/// The live WebSocket sessions on this node, by user: where pushed events go.
final class ConnectionRegistry: EventSink {
    private var byUser: [String: [WebSocketSession]] = [:]
    private(set) var count = 0
    let metrics: Metrics

    init(metrics: Metrics) { self.metrics = metrics }

    func add(_ session: WebSocketSession) {
        byUser[session.session.user, default: []].append(session)
        count += 1
    }

    func remove(_ session: WebSocketSession) {
        guard var list = byUser[session.session.user], let i = list.firstIndex(where: { $0 === session }) else { return }
        list.remove(at: i)
        byUser[session.session.user] = list.isEmpty ? nil : list
        count -= 1
    }

    func sessions(of user: String) -> [WebSocketSession] { byUser[user] ?? [] }

    var onlineUsers: Int { byUser.count }

    func push(_ event: OutboundEvent, to users: [String], except: ConnectionRef?) {
        for user in users {
            for session in byUser[user] ?? [] where session.ref != except {
                session.deliver(event)
            }
        }
    }
}
