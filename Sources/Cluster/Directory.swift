import Chat
import Peer

/// Which nodes hold live connections of which users, and the `EventSink` that pushes events
/// to them wherever they are.
///
/// Every node keeps the whole directory: users come online and go offline far less often than
/// they receive messages, so broadcasting those changes (and a full snapshot whenever a link to
/// a peer comes up, which repairs anything a dropped connection lost) is cheaper than asking
/// where a user is for every message. A node that dies or leaves is dropped from it.
/// (DESIGN.md puts this registry on the user's shard primary; a broadcast directory is simpler
/// and as correct for the cluster sizes Relay targets. docs/CLUSTER.md says so.)
public final class Directory: EventSink {
    let me: String
    let local: LocalConnections
    let peer: PeerTransport
    /// The live peers to tell about local presence changes.
    var livePeers: () -> [String]
    private var nodesByUser: [String: Set<String>] = [:]
    private var usersByNode: [String: Set<String>] = [:]
    public private(set) var eventsForwarded = 0
    /// (user, node) entries at most: about 100 bytes each, so 1,000,000 (50 nodes of 20,000
    /// connections) is ~100 MB. Past it a node's new entries are not kept and that node is
    /// marked incomplete: an event for a user the directory does not know then also goes to
    /// the incomplete nodes, which costs traffic, never a lost event. A node is complete again
    /// when its next full snapshot (a new link) fits, or when it dies or leaves.
    static let maxEntries = 1_000_000
    private var entries = 0
    /// Nodes some of whose users were refused an entry.
    public private(set) var incompleteNodes: Set<String> = []

    /// Pushes wait here when they are big or behind a big one (`PushQueue`).
    private var queue = PushQueue(perTurn: PushQueue.recipientsPerTurn)
    /// Runs work on a later loop turn (the loop's zero-delay timer).
    let later: (@escaping () -> Void) -> Void
    public var slicedPushes: Int { queue.queued }
    /// Users with a connection on this node (kept from `LocalConnections`' callbacks).
    private var localUsers: Set<String> = []
    /// Told, after each change of the directory, which users' cluster-wide presence may have
    /// changed (the `PresenceTracker` re-reads `isOnline` for them). One call per change, after
    /// it is whole: a snapshot that replaces a node's users reports each user once.
    public var onUsersChanged: (([String]) -> Void)?

    public init(me: String, local: LocalConnections, peer: PeerTransport, later: @escaping (@escaping () -> Void) -> Void,
                livePeers: @escaping () -> [String]) {
        self.me = me
        self.local = local
        self.peer = peer
        self.later = later
        self.livePeers = livePeers
        local.onUserOnline = { [unowned self] user in
            localUsers.insert(user)
            broadcastPresence(user, online: true)
            onUsersChanged?([user])
        }
        local.onUserOffline = { [unowned self] user in
            localUsers.remove(user)
            broadcastPresence(user, online: false)
            onUsersChanged?([user])
        }
    }

    // MARK: EventSink

    public func push(_ event: OutboundEvent, to users: [String], except: ConnectionRef?) {
        enqueue(event, to: users, except: except, local: false)
    }

    private func enqueue(_ event: OutboundEvent, to users: [String], except: ConnectionRef?, local onlyHere: Bool) {
        let item = PushQueue.Item(event: event, users: users[...], except: except, localOnly: onlyHere)
        switch queue.add(item, deliver: deliver) {
        case .delivered, .waiting: break
        case .startDraining: later { [weak self] in self?.drain() }
        }
    }

    private func drain() {
        if queue.drain(deliver: deliver) { later { [weak self] in self?.drain() } }
    }

    private func deliver(_ item: PushQueue.Item) {
        deliver(item.event, to: Array(item.users), except: item.except, local: item.localOnly)
    }

    private func deliver(_ event: OutboundEvent, to users: [String], except: ConnectionRef?, local onlyHere: Bool) {
        local.push(event, to: users, except: except)
        if onlyHere { return }
        var byNode: [String: [String]] = [:]
        for user in users {
            if let nodes = nodesByUser[user] {
                for node in nodes { byNode[node, default: []].append(user) }
            } else {
                for node in incompleteNodes { byNode[node, default: []].append(user) }
            }
        }
        for node in byNode.keys.sorted() {
            eventsForwarded += 1
            peer.send(node, operation: ClusterOp.pushEvent.rawValue,
                      payload: ClusterCodec.pushEvent(event, users: byNode[node]!, except: except))
        }
    }

    /// An event another node forwarded for users connected here.
    func received(pushEvent payload: [UInt8]) {
        guard let (event, users, except) = try? ClusterCodec.decodePushEvent(payload) else { return }
        enqueue(event, to: users, except: except, local: true)
    }

    // MARK: Directory upkeep

    private func broadcastPresence(_ user: String, online: Bool) {
        let payload = ClusterCodec.presence(user: user, online: online)
        for node in livePeers() { peer.send(node, operation: ClusterOp.presence.rawValue, payload: payload) }
    }

    func received(presence payload: [UInt8], from node: String) {
        guard let (user, online) = try? ClusterCodec.decodePresence(payload) else { return }
        set(user, on: node, online: online)
        onUsersChanged?([user])
    }

    /// A link to `node` came up: send it everyone connected here.
    func linkUp(_ node: String) {
        peer.send(node, operation: ClusterOp.directorySnapshot.rawValue, payload: ClusterCodec.strings(local.usersOnline))
    }

    func received(snapshot payload: [UInt8], from node: String) {
        guard let users = try? ClusterCodec.decodeStrings(payload) else { return }
        var changed = Set(forgetEntries(of: node))
        for user in users { set(user, on: node, online: true) }
        changed.formUnion(users)
        if !changed.isEmpty { onUsersChanged?(changed.sorted()) }
    }

    /// The node died or left: its connections are gone.
    func forget(_ node: String) {
        let gone = forgetEntries(of: node)
        if !gone.isEmpty { onUsersChanged?(gone) }
    }

    private func forgetEntries(of node: String) -> [String] {
        let users = (usersByNode.removeValue(forKey: node) ?? []).sorted()
        for user in users {
            nodesByUser[user]?.remove(node)
            if nodesByUser[user]?.isEmpty == true { nodesByUser[user] = nil }
            entries -= 1
        }
        incompleteNodes.remove(node)
        return users
    }

    private func set(_ user: String, on node: String, online: Bool) {
        guard node != me else { return }
        if online {
            guard entries < Self.maxEntries else {
                incompleteNodes.insert(node)
                return
            }
            if nodesByUser[user, default: []].insert(node).inserted {
                usersByNode[node, default: []].insert(user)
                entries += 1
            }
        } else {
            if nodesByUser[user]?.remove(node) != nil { entries -= 1 }
            if nodesByUser[user]?.isEmpty == true { nodesByUser[user] = nil }
            usersByNode[node]?.remove(user)
        }
    }

    /// Nodes other than this one where the user has connections.
    public func nodes(of user: String) -> [String] { (nodesByUser[user] ?? []).sorted() }

    /// Connected anywhere in the cluster, as far as this node knows.
    public func isOnline(_ user: String) -> Bool { localUsers.contains(user) || nodesByUser[user] != nil }

    /// Every user connected anywhere, as far as this node knows (in no particular order).
    public var onlineUsers: Set<String> { localUsers.union(nodesByUser.keys) }

    // MARK: Logout everywhere

    public func loggedOut(user: String, tokenHash: [UInt8]) {
        local.closeSessions(user: user, tokenHash: tokenHash)
        let payload = ClusterCodec.logout(user: user, tokenHash: tokenHash)
        for node in livePeers() { peer.send(node, operation: ClusterOp.logout.rawValue, payload: payload) }
    }

    func received(logout payload: [UInt8]) {
        guard let (user, hash) = try? ClusterCodec.decodeLogout(payload) else { return }
        local.closeSessions(user: user, tokenHash: hash)
    }
}
