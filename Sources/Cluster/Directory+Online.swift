import Chat

/// Who is connected anywhere, for notifications (Chat's Notifications.swift): a user with a
/// live connection on this node or on any node the directory knows of. The directory learns
/// of other nodes' connections by broadcast, so a connection a few milliseconds old may not
/// count yet; a user the directory cannot place (a node over `maxEntries`) counts as offline,
/// which costs a notification, never a lost one.
extension Directory: OnlineUsers {
    public func isOnline(_ user: String) -> Bool {
        local.hasConnections(of: user) || isConnectedElsewhere(user)
    }
}
