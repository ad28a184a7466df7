import Chat

/// The live connections of this node, as the cluster needs them: pushing to them, knowing
/// which users are here, and closing a logged-out token's sessions.
public protocol LocalConnections: EventSink {
    var usersOnline: [String] { get }
    /// A user's first connection on this node opened / their last one closed.
    var onUserOnline: ((String) -> Void)? { get set }
    var onUserOffline: ((String) -> Void)? { get set }
    func closeSessions(user: String, tokenHash: [UInt8])
}
