import Chat
import Gossip
import JSON
import Net
import Peer
import Ring
import Replication
import Store

/// Everything that makes one node part of a cluster: gossip membership and the ring view,
/// node-to-node connections, routing of shard requests, the connection directory and
/// replication. The node's chat code sees only a `ShardRouter` and an `EventSink`.
public final class ClusterNode {
    public struct Settings: Sendable {
        public var clusterName: String
        public var secret: String
        public var me: String
        public var gossipAddress: String
        public var peerAddress: String
        public var clientAddress: String
        /// 0 for the nodes of the config file that form the cluster; a joiner's first start time.
        public var joinedAt: Int64
        public var shardCount: Int
        public var replication: Int
        /// The config's founding nodes (ring members from the start, even before gossip hears
        /// from them): id, gossip, peer and client addresses.
        public var founders: [(id: String, gossip: String, peer: String, client: String)]
        public var seeds: [String]

        public init(clusterName: String, secret: String, me: String, gossipAddress: String, peerAddress: String,
                    clientAddress: String, joinedAt: Int64, shardCount: Int, replication: Int,
                    founders: [(id: String, gossip: String, peer: String, client: String)], seeds: [String]) {
            self.clusterName = clusterName
            self.secret = secret
            self.me = me
            self.gossipAddress = gossipAddress
            self.peerAddress = peerAddress
            self.clientAddress = clientAddress
            self.joinedAt = joinedAt
            self.shardCount = shardCount
            self.replication = replication
            self.founders = founders
            self.seeds = seeds
        }
    }

    public let settings: Settings
    public private(set) var view: ClusterView
    public let peer: PeerTransport
    let loop: EventLoop
    let log: (String) -> Void
    private var gossip: GossipShell!
    public private(set) var router: ClusterRouter!
    public private(set) var directory: Directory!
    public private(set) var replicator: Replicator!
    /// Presence decided by each user's shard primary (PresenceTracker.swift).
    public private(set) var presence: PresenceTracker!
    private var dispatch: PeerDispatch!
    /// Called when this node has left and handed over every shard (or gave up waiting).
    public var onLeft: (() -> Void)?
    private var leaving = false

    /// How long a leaving node waits for its shards to be taken before it stops anyway.
    static let leaveTimeoutMs: Int64 = 60_000

    public init(settings: Settings, loop: EventLoop, files: ShardFiles, service: ShardService, shardMap: ShardMap,
                workers: WorkerPool, local: LocalConnections, random: @escaping (Int) -> [UInt8],
                log: @escaping (String) -> Void) throws {
        self.settings = settings
        self.loop = loop
        self.log = log
        let meta = NodeMeta(client: settings.clientAddress, peer: settings.peerAddress, joinedAt: settings.joinedAt)
        view = ClusterView(me: .init(id: settings.me, gossip: settings.gossipAddress, status: .alive, incarnation: 0, meta: meta),
                           shardCount: settings.shardCount, replication: settings.replication)
        // Founders hold ring positions from the start; until gossip hears from them they
        // count as down, so nothing of theirs is served or claimed by anyone else.
        for f in settings.founders where f.id != settings.me {
            view.update(Member(id: MemberID(name: f.id, address: f.gossip), status: .dead, incarnation: 0,
                               meta: NodeMeta(client: f.client, peer: f.peer, joinedAt: 0).encoded()))
        }
        var peerSettings = PeerSettings(clusterName: settings.clusterName, nodeID: settings.me, secret: Array(settings.secret.utf8))
        peerSettings.requestTimeoutMs = 5_000
        peer = PeerTransport(loop: loop, settings: peerSettings, random: random)
        for f in settings.founders where f.id != settings.me { peer.setPeer(f.id, address: f.peer) }

        var gossipSettings = GossipSettings()
        // Room for the seal (tag, format, stamp, sender binding) within 1400-byte datagrams.
        gossipSettings.maxDatagramBytes = 1400 - GossipSeal.maxOverheadBytes
        // A dead node keeps its ring positions until it leaves: never forget it.
        gossipSettings.deadMemberRetentionMs = Int64.max / 4
        let seed = random(8).reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
        let swim = try SWIMInstance(me: MemberID(name: settings.me, address: settings.gossipAddress), meta: meta.encoded(),
                                    settings: gossipSettings, seed: seed)
        gossip = try GossipShell(swim: swim, mainLoop: loop, key: GossipSeal.key(cluster: settings.clusterName, secret: settings.secret))
        directory = Directory(me: settings.me, local: local, peer: peer,
                              later: { [unowned loop] fn in _ = loop.schedule(afterMs: 0, fn) },
                              livePeers: { [unowned self] in view.liveNodes(except: settings.me) })
        // Before any change, each shard is where the founders' placement puts it: every node
        // of its preference list holds it (empty), the first leads it (epoch 0).
        var founding = Placement(nodes: [], shardCount: settings.shardCount, replication: settings.replication)
        for f in settings.founders.map(\.id).sorted() { founding = founding.adding(f) }
        // Shard files are created and migrated on the workers (`files.open`), never on the loop;
        // snapshots are made, read, written and installed there too.
        files.runner = PoolRunner(pool: workers)
        let store = try ConfigStore(path: files.directory + "/cluster.db", durability: files.durability)
        replicator = try Replicator(me: settings.me, loop: loop, files: files, service: service, peer: peer, store: store,
                                    view: { [unowned self] in view }, initial: { shard in
                                        let list = founding.preferenceList(shard: shard)
                                        return ShardConfig(epoch: 0, primary: list.first ?? "", isr: list)
                                    }, log: log)
        router = ClusterRouter(me: settings.me, loop: loop, service: service, shardMap: shardMap, peer: peer, routes: replicator)
        dispatch = PeerDispatch(replicator: replicator, router: router, directory: directory)
        presence = PresenceTracker(directory: directory, replicator: replicator, router: router, shardMap: shardMap, loop: loop)
        wire()
    }

    /// The node's worker threads, for the shard files' slow disk work.
    private final class PoolRunner: SlowWorkRunner {
        let pool: WorkerPool
        init(pool: WorkerPool) { self.pool = pool }
        func run<T: Sendable>(_ work: @escaping @Sendable () -> T, done: @escaping (T) -> Void) -> Bool {
            pool.submit(work, done: done)
        }
    }

    private func wire() {
        gossip.onMemberChanged = { [unowned self] member in memberChanged(member) }
        gossip.onNote = { [unowned self] note in log(note) }
        peer.onPeerUp = { [unowned self] node in
            directory.linkUp(node)
            replicator.peerUp(node)
        }
        peer.onRefusedLog = { [unowned self] line in log("peer refused: \(line)") }  // rate-limited (RateLimitedLog)
        peer.onMessage = { [unowned self] from, operation, payload in dispatch.message(from: from, operation: operation, payload: payload) }
        peer.onRequest = { [unowned self] from, operation, payload, respond in
            dispatch.request(from: from, operation: operation, payload: payload, respond: respond)
        }
    }

    public func start(gossipHost: String, gossipPort: Int, peerHost: String, peerPort: Int) throws {
        try peer.listen(host: peerHost, port: peerPort)
        try gossip.start(host: gossipHost, port: gossipPort, seeds: settings.seeds)
        replicator.start()
        presence.start()
    }

    private func memberChanged(_ member: Member) {
        let before = view.nodes[member.id.name]
        let ringChanged = view.update(member)
        let node = member.id.name
        if node != settings.me, let meta = NodeMeta.decode(member.meta) { peer.setPeer(node, address: meta.peer) }
        if !member.status.isInCluster { directory.forget(node) }
        if before?.status != member.status {
            log("member \(node) is \(member.status) (incarnation \(member.incarnation))")
        }
        if ringChanged {
            log("ring v\(view.ringVersion): \(view.ring.joined(separator: ", "))")
        }
        if ringChanged || before?.status != member.status { replicator.membershipChanged() }
        if leaving { checkLeft() }
    }

    /// Graceful leave: gossip says so, the others take this node's shards, then `onLeft`.
    public func leave() {
        guard !leaving else { return }
        leaving = true
        log("leaving the cluster")
        gossip.leave()
        let deadline = loop.monotonicMs + Self.leaveTimeoutMs
        func poll() {
            loop.schedule(afterMs: 200) { [weak self] in
                guard let self else { return }
                if checkLeft() { return }
                if loop.monotonicMs > deadline {
                    log("leave: some shards not taken in time; stopping anyway")
                    finishLeave()
                } else {
                    poll()
                }
            }
        }
        poll()
    }

    @discardableResult
    private func checkLeft() -> Bool {
        guard leaving, onLeft != nil else { return false }
        guard replicator.holdsNothingNeeded else { return false }
        finishLeave()
        return true
    }

    private func finishLeave() {
        let done = onLeft
        onLeft = nil
        done?()
    }

    /// Stops gossip (after a leave, once it had time to spread) and its thread, then the
    /// peer links.
    public func stop() {
        gossip.stop()
        peer.close()
    }

    // MARK: Status

    /// `GET /v1/cluster/shards`: each shard's configuration (epoch, primary, in-sync replicas)
    /// as this node knows it, and what this node does for it.
    public func shardStatus(only: Int?) -> JSON {
        let shards = only.map { [$0] } ?? Array(0..<settings.shardCount)
        let core = replicator.core
        return .object(["node": .string(settings.me), "shards": .array(shards.map { shard in
            let config = core.config(shard)
            return .object([
                "shard": .int(Int64(shard)), "epoch": .int(config.epoch), "primary": .string(config.primary),
                "isr": .array(config.isr.map { .string($0) }), "targets": .array(core.targets(shard).map { .string($0) }),
                "route": replicator.route(shard).map { .string($0) } ?? .null, "serving_here": .bool(replicator.serves(shard)),
                "on_disk_here": .bool(replicator.files.exists(shard: shard)),
            ])
        })])
    }

    public func status() -> JSON {
        let placement = view.placement
        let g = gossip.counters
        let members: [JSON] = view.nodes.values.sorted { $0.id < $1.id }.map { node in
            var o: JSONObject = ["id": .string(node.id), "state": .string(node.status.description),
                                 "incarnation": .int(Int64(node.incarnation)), "gossip": .string(node.gossip)]
            if let meta = node.meta {
                o["client"] = .string(meta.client)
                o["peer"] = .string(meta.peer)
                o["joined_at"] = .int(meta.joinedAt)
            }
            o["in_ring"] = .bool(view.ring.contains(node.id))
            o["shards_led"] = .int(Int64(placement.shardsLed(by: node.id).count))
            o["shards_held"] = .int(Int64(placement.shardsHeld(by: node.id).count))
            return .object(o)
        }
        return .object([
            "cluster": .string(settings.clusterName), "node": .string(settings.me),
            "ring_version": .int(Int64(view.ringVersion)), "ring": .array(view.ring.map { .string($0) }),
            "shards": .int(Int64(settings.shardCount)), "replication": .int(Int64(settings.replication)),
            "members": .array(members),
            "local": .object([
                "shards_serving": .int(Int64((0..<settings.shardCount).filter { replicator.serves($0) }.count)),
                "shards_on_disk": .int(Int64(replicator.files.shardsOnDisk().count)),
                "has_majority": .bool(replicator.core.hasMajority),
                "replies_waiting_for_replicas": .int(Int64(replicator.service.waitingCount)),
                "shards_pulling": .array(replicator.installingShards.map { .int(Int64($0)) }),
                "shards_received": .int(Int64(replicator.snapshotsReceived)), "shards_sent": .int(Int64(replicator.snapshotsSent)),
                "copies_retired": .int(Int64(replicator.retired)),
                "peers_connected": .array(peer.connectedPeers().map { .string($0) }),
                "gossip_rejected_datagrams": .int(Int64(g.rejected)),
                "gossip_bad_tag_rejected": .int(Int64(g.rejectedBadTag)),
                "gossip_wrong_sender_rejected": .int(Int64(g.rejectedWrongSender)),
                "gossip_replays_rejected": .int(Int64(g.rejectedReplays)),
                "gossip_undecodable_datagrams": .int(Int64(g.undecodable)),
                "gossip_datagrams_sent": .int(Int64(g.datagramsSent)),
                "gossip_datagrams_accepted": .int(Int64(g.datagramsAccepted)),
                "gossip_local_health": .int(Int64(g.localHealth)),
                "gossip_paused": .bool(g.paused),
                "gossip_pauses": .int(Int64(g.pauses)),
                "gossip_dropped_while_paused": .int(Int64(g.droppedWhilePaused)),
                "events_forwarded": .int(Int64(directory.eventsForwarded)),
            ]),
        ])
    }
}
