import Chat
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
    let placement: Placement
    let service: ShardService
    let chat: ChatService
    let registry: ConnectionRegistry
    let workers: WorkerPool
    private(set) var server: ClientServer!
    let startedAtMs: Int64

    /// Threads that hash passwords: yescrypt takes tens of milliseconds and 16 MiB each.
    static let hashWorkers = 2
    /// Expired sessions are deleted this often, a bounded batch per shard.
    static let sessionCleanupIntervalMs: Int64 = 10 * 60 * 1000

    init(config: ClusterConfig, me: NodeConfig, dataDirectory: String, log: Log) throws {
        self.config = config
        self.me = me
        id = me.id
        self.log = log
        loop = try EventLoop()
        startedAtMs = loop.nowMs
        files = try ShardFiles(directory: dataDirectory + "/shards", durability: config.durability)
        shardMap = try ShardMap(shardCount: config.shards)
        // Until the cluster layer runs gossip, the node owns every shard: a one-node cluster.
        placement = Placement(nodes: [me.id], shardCount: config.shards, replication: config.replication)
        let random = SystemRandom()
        let loop = self.loop
        service = ShardService(nodeID: me.id, files: files, shardMap: shardMap, random: random,
                               clock: { loop.nowMs },
                               schedule: { delay, fn in loop.schedule(afterMs: delay, fn) })
        workers = WorkerPool(threads: Self.hashWorkers, loop: loop)
        chat = ChatService(router: LocalRouter(service: service), shardMap: shardMap,
                           hasher: PoolHasher(pool: workers, random: random), random: random, clock: { loop.nowMs })
        registry = ConnectionRegistry(metrics: metrics)
        service.sink = registry
        server = ClientServer(loop: loop, api: HTTPAPI(node: self), metrics: metrics, log: log)
        // Group commit: the turn's writes become durable together, then acks go out.
        loop.addTurnEndHook { [unowned self] in service.commit() }
    }

    func run() throws {
        try server.listen(me.client)
        log.info("serving clients on \(me.client) (cluster \(config.cluster), \(config.shards) shards)")
        Signals.onTerminate(loop: loop) { [unowned self] in
            log.info("stopping")
            server.stop()
            service.commit()
            loop.stop()
        }
        scheduleSessionCleanup()
        loop.run()
        service.commit()
        workers.shutdown()
        files.closeAll()
        log.info("stopped")
    }

    private func scheduleSessionCleanup() {
        loop.schedule(afterMs: Self.sessionCleanupIntervalMs) { [weak self] in
            guard let self else { return }
            let now = loop.nowMs
            for shard in placement.shardsLed(by: id) {
                _ = try? files.store(shard).deleteExpiredSessions(now: now)
            }
            scheduleSessionCleanup()
        }
    }

    /// A logout closes the WebSockets that used the token on this node.
    func loggedOut(_ session: Session) {
        for ws in registry.sessions(of: session.user) where ws.session.tokenHash == session.tokenHash {
            ws.close(code: 4001, reason: "logged out")
        }
    }

    func metricsText() -> String {
        metrics.render(nodeID: id, gauges: [
            ("client_connections", "open client TCP connections", server.connectionCount),
            ("websocket_sessions", "open WebSocket sessions", registry.count),
            ("online_users", "users with a WebSocket on this node", registry.onlineUsers),
            ("password_hash_queue", "password hashes waiting for a worker", workers.queuedJobs),
        ])
    }

    func clusterStatus() -> JSON {
        let members: [JSON] = placement.nodes.map { nodeID in
            let node = config.nodes.first { $0.id == nodeID }
            return .object([
                "id": .string(nodeID), "state": "alive", "incarnation": 0,
                "client": .string(node?.client.description ?? ""), "peer": .string(node?.peer.description ?? ""),
                "gossip": .string(node?.gossip.description ?? ""),
                "shards_led": .int(Int64(placement.shardsLed(by: nodeID).count)),
                "shards_held": .int(Int64(placement.shardsHeld(by: nodeID).count)),
            ])
        }
        return .object(["cluster": .string(config.cluster), "node": .string(id), "ring_version": 1,
                        "shards": .int(Int64(config.shards)), "replication": .int(Int64(config.replication)),
                        "members": .array(members)])
    }
}
