import Chat
import Cluster

/// The live WebSocket sessions on this node, by user: where pushed events go.
final class ConnectionRegistry: LocalConnections {
    private var byUser: [String: [WebSocketSession]] = [:]
    private(set) var count = 0
    let metrics: Metrics

    var onUserOnline: ((String) -> Void)?
    var onUserOffline: ((String) -> Void)?

    init(metrics: Metrics) { self.metrics = metrics }

    func add(_ session: WebSocketSession) {
        let user = session.session.user
        byUser[user, default: []].append(session)
        count += 1
        if byUser[user]?.count == 1 { onUserOnline?(user) }
    }

    func remove(_ session: WebSocketSession) {
        guard var list = byUser[session.session.user], let i = list.firstIndex(where: { $0 === session }) else { return }
        list.remove(at: i)
        byUser[session.session.user] = list.isEmpty ? nil : list
        count -= 1
        if list.isEmpty { onUserOffline?(session.session.user) }
    }

    var usersOnline: [String] { byUser.keys.sorted() }

    /// A logout: that token's sessions end with close code 4001.
    func closeSessions(user: String, tokenHash: [UInt8]) {
        for ws in sessions(of: user) where ws.session.tokenHash == tokenHash {
            ws.close(code: 4001, reason: "logged out")
        }
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
