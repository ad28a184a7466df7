import Chat
import Cluster
import Foundation
import JSON
import Net
import Ring
import Store

/// One `relaynode` process: its event loop, shard files, chat service and client server.
final class Node {
    let id: String
    let config: ClusterConfig
    let me: NodeConfig
    let loop: EventLoop
    let log: Log
    let metrics = Metrics()
    let files: ShardFiles
    let shardMap: ShardMap
    let service: ShardService
    private(set) var cluster: ClusterNode!
    let chat: ChatService
    let registry: ConnectionRegistry
    let workers: WorkerPool
    private(set) var server: ClientServer!
    let startedAtMs: Int64
    /// The web client's files, served at `/`.
    let web = WebClient.bundled()
    let random = SystemRandom()
    /// Asset files and their transfers (AssetStore.swift, docs/ASSETS.md).
    private(set) var assets: AssetStore!

    /// Threads that hash passwords: yescrypt takes tens of milliseconds and 16 MiB each.
    static let hashWorkers = 2
    /// Expired sessions are deleted this often, a bounded batch per shard.
    static let sessionCleanupIntervalMs: Int64 = 10 * 60 * 1000

    init(config: ClusterConfig, me: NodeConfig, dataDirectory: String, join: String?, log: Log) throws {
        self.config = config
        self.me = me
        id = me.id
        self.log = log
        loop = try EventLoop()
        startedAtMs = loop.nowMs
        files = try ShardFiles(directory: dataDirectory + "/shards", durability: config.durability,
                               keepLogEntries: config.logEntries)
        shardMap = try ShardMap(shardCount: config.shards)
        let random = self.random
        let loop = self.loop
        service = ShardService(nodeID: me.id, files: files, shardMap: shardMap, random: random,
                               clock: { loop.nowMs },
                               schedule: { delay, fn in loop.schedule(afterMs: delay, fn) })
        // Group commit: the turn's writes become durable together, then acks go out. This hook
        // is registered before the peer transport's, so the replies and pushes the commit
        // releases leave in the same turn's flush instead of waiting for a later one.
        let service = self.service
        loop.addTurnEndHook {
            if service.commitAll() { loop.execute {} }
        }
        workers = WorkerPool(threads: Self.hashWorkers, loop: loop)
        registry = ConnectionRegistry(metrics: metrics)
        let founders = config.nodes.filter(\.initial)
        let joinedAt = me.initial ? 0 : try Self.joinTime(dataDirectory: dataDirectory, now: loop.nowMs)
        let settings = ClusterNode.Settings(
            clusterName: config.cluster, secret: config.secret, me: me.id, gossipAddress: me.gossip.description,
            peerAddress: me.peer.description, clientAddress: me.client.description, joinedAt: joinedAt,
            shardCount: config.shards, replication: config.replication,
            founders: founders.map { (id: $0.id, gossip: $0.gossip.description, peer: $0.peer.description, client: $0.client.description) },
            seeds: founders.filter { $0.id != me.id }.map(\.gossip.description) + (join.map { [$0] } ?? []))
        let randomBytes: (Int) -> [UInt8] = { random.bytes($0) }
        cluster = try ClusterNode(settings: settings, loop: loop, files: files, service: service, shardMap: shardMap,
                                  workers: workers, local: registry, random: randomBytes, log: { log.info($0) })
        var chatSettings = ChatSettings()
        chatSettings.maxGroupMembers = config.maxGroupMembers
        chat = ChatService(router: cluster.router, shardMap: shardMap,
                           hasher: PoolHasher(pool: workers, random: random, cost: config.passwordHashCost), random: random, settings: chatSettings,
                           clock: { loop.nowMs })
        chat.billingURL = config.billing.billingURL
        if case .http(let url, let timeoutMs) = config.billing.kind {
            guard let billing = HTTPBilling(url: url, timeoutMs: timeoutMs, loop: loop) else { throw ConfigError("bad billing url \(url)") }
            chat.billing = billing
        }
        service.sink = cluster.directory
        // Notifications (docs/NOTIFICATIONS.md): who is online, the push gateway, devices.
        service.online = cluster.directory
        if let push = config.pushGateway {
            guard let gateway = HTTPPushGateway(push, loop: loop) else { throw ConfigError("bad push gateway url \(push.url)") }
            service.notificationHook = gateway
        }
        let chat = self.chat, nodeID = me.id
        registry.onDeviceGone = { user, device in chat.deviceSeen(user: user, device: device, node: nodeID, online: false) { _ in } }
        service.attach(router: cluster.router)
        server = ClientServer(loop: loop, api: HTTPAPI(node: self), metrics: metrics, log: log)
        server.limits.streamedBodyPaths = ["POST /v1/assets"]
        server.limits.maxStreamedBodyBytes = config.maxAssetBytes
        assets = try AssetStore(node: self, dataDirectory: dataDirectory)
    }

    /// A node that joins a running cluster remembers when it first did: its place in the
    /// ring order (docs/CLUSTER.md) must not change across restarts.
    static func joinTime(dataDirectory: String, now: Int64) throws -> Int64 {
        let path = dataDirectory + "/joined-at"
        if let data = FileManager.default.contents(atPath: path),
           let value = Int64(String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)) {
            return value
        }
        try FileManager.default.createDirectory(atPath: dataDirectory, withIntermediateDirectories: true)
        try Data("\(now)\n".utf8).write(to: URL(fileURLWithPath: path), options: .atomic)
        return now
    }

    func run() throws {
        try cluster.start(gossipHost: me.gossip.host, gossipPort: me.gossip.port, peerHost: me.peer.host, peerPort: me.peer.port)
        try server.listen(me.client)
        log.info("serving clients on \(me.client) (cluster \(config.cluster), \(config.shards) shards)")
        Signals.onTerminate(loop: loop) { [unowned self] in shutdown() }
        cluster.onLeft = { [unowned self] in
            log.info("left the cluster; every shard was handed over")
            shutdown()
        }
        scheduleSessionCleanup()
        scheduleModerationPrune()
        assets.start()
        loop.run()
        service.commitAll()
        workers.shutdown()
        files.closeAll()
        log.info("stopped")
    }

    private var stopping = false

    func shutdown() {
        guard !stopping else { return }
        stopping = true
        log.info("stopping")
        server.stop()
        service.commitAll()
        cluster.stop()
        loop.stop()
    }

    /// `POST /v1/cluster/leave`: hand every shard over, then stop.
    func leave() { cluster.leave() }

    private func scheduleSessionCleanup() {
        loop.schedule(afterMs: Self.sessionCleanupIntervalMs) { [weak self] in
            guard let self else { return }
            let now = loop.nowMs
            for shard in files.shardsOnDisk() where cluster.replicator.serves(shard) {
                _ = try? files.store(shard).deleteExpiredSessions(now: now)
            }
            scheduleSessionCleanup()
        }
    }

    /// A logout closes the WebSockets that used the token, on every node.
    func loggedOut(_ session: Session) {
        cluster.directory.loggedOut(user: session.user, tokenHash: session.tokenHash)
    }

    func metricsText() -> String {
        let peer = cluster.peer.stats
        return metrics.render(nodeID: id, counters: [
            ("peer_refused_handshakes_total", "peer handshakes refused, either side, either direction", peer.refusedHandshakes),
            ("peer_accepts_rate_limited_total", "peer connections closed at accept: their address was over the accept rate", peer.acceptsRateLimited),
            ("peer_accepts_over_limit_total", "peer connections closed at accept: too many inbound connections", peer.acceptsOverLimit),
            ("peer_handshakes_evicted_total", "unauthenticated peer connections closed to make room for newer ones", peer.handshakesEvicted),
            ("peer_refusal_log_lines_suppressed_total", "peer refusal log lines held back by the rate-limited log", peer.refusalLogLinesSuppressed),
            ("client_turn_deferrals_total", "times a client connection used its share of a loop turn and waited for the next", server.budget.deferrals),
            ("asset_files_repaired_total", "asset files fetched from another replica because this node lacked them", assets.repaired),
            ("asset_files_collected_total", "asset files deleted because no asset row on this node names them", assets.collected),
        ] + presenceCounters + billingCounters + pushCounters, gauges: [
            ("client_connections", "open client TCP connections", server.connectionCount),
            ("websocket_sessions", "open WebSocket sessions", registry.count),
            ("online_users", "users with a WebSocket on this node", registry.onlineUsers),
            ("password_hash_queue", "password hashes waiting for a worker", workers.queuedJobs),
            ("login_throttle_records", "entries held by the login throttle", chat.loginThrottle.records),
            ("peer_handshaking_connections", "accepted peer connections still handshaking", cluster.peer.handshakingConnections),
        ], logins: chat.loginThrottle.stats)
    }

    /// Presence as decided here, as some users' shard primary (PresenceTracker.swift).
    private var presenceCounters: [(String, String, Int)] {
        let p = cluster.presence!
        return [("presence_transitions_total", "users' online/offline changes stored by this node as their shard's primary", p.transitions),
                ("presence_events_pushed_total", "presence events pushed by this node: one per online recipient of a transition", p.eventsPushed),
                ("presence_calls_failed_total", "presence updates that failed here and wait for the next sweep", p.failedCalls)]
    }

    /// The HTTP billing adapter's answers (none with the ledger).
    private var billingCounters: [(String, String, Int)] {
        guard let http = chat.billing as? HTTPBilling else { return [] }
        return [("billing_charged_total", "tips the billing service charged (2xx)", http.charged),
                ("billing_declined_total", "tips the billing service declined (4xx)", http.declined),
                ("billing_failed_total", "billing calls that failed: 5xx, 408, 429, timeouts, no connection, a full queue", http.failed)]
    }

    func clusterStatus() -> JSON { cluster.status() }
}
