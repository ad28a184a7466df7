import Chat

/// Who is connected anywhere, for notifications (Chat's Notifications.swift): the directory's
/// `isOnline`. It learns of other nodes' connections by broadcast, so a connection a few
/// milliseconds old may not count yet; a user it cannot place counts as offline, which costs a
/// notification, never a lost one.
extension Directory: OnlineUsers {}
