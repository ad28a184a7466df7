import Chat
import Cluster
import HTTPWire

/// The live WebSocket sessions on this node, by user: where pushed events go.
final class ConnectionRegistry: LocalConnections {
    private var byUser: [String: [WebSocketSession]] = [:]
    private(set) var count = 0
    let metrics: Metrics

    var onUserOnline: ((String) -> Void)?
    var onUserOffline: ((String) -> Void)?
    /// A device's last connection here closed (user, device): its row says so (Devices.swift).
    var onDeviceGone: ((String, String) -> Void)?

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
        if !list.contains(where: { $0.device == session.device }) { onDeviceGone?(session.session.user, session.device) }
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

    /// The event's frame is made once, on its first delivery here, and shared by every
    /// recipient's write queue (server frames are not masked, so they are the same bytes).
    func push(_ event: OutboundEvent, to users: [String], except: ConnectionRef?) {
        var frame: [UInt8]?
        for user in users {
            guard let sessions = byUser[user] else { continue }
            for session in sessions where session.ref != except {
                if frame == nil { frame = WebSocketWriter.text(event.text) }
                session.deliver(event, frame: frame!)
            }
        }
    }
}
