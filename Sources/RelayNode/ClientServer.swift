import HTTPWire
import Net

/// Accepts client connections on the node's client port and keeps them until they close.
final class ClientServer {
    /// An unfinished request must arrive within this: a slow-loris client gives up its socket.
    static let requestTimeoutMs: Int64 = 10_000
    /// A keep-alive connection with no request for this long is closed.
    static let idleTimeoutMs: Int64 = 60_000
    /// How often connections are checked for the timeouts above and WebSocket liveness.
    static let sweepIntervalMs: Int64 = 1_000
    /// Open client connections at most; more are closed on accept (each costs an fd).
    static let maxConnections = 20_000
    /// HTTP bodies: requests are small JSON documents (a 64 KiB message body, escaped).
    static let httpLimits = HTTPLimits(maxHeaderBytes: 16 * 1024, maxHeaderCount: 100, maxBodyBytes: 256 * 1024)

    /// `httpLimits` plus the streamed asset upload route and its bound (`max_asset_bytes`).
    var limits = ClientServer.httpLimits
    let loop: EventLoop
    let api: HTTPAPI
    let metrics: Metrics
    let log: Log
    /// Each loop turn's share of client work, per connection and in all.
    let budget: ClientBudget
    private var listener: TCPListener?
    private var connections: [UInt64: ClientConnection] = [:]
    private var nextID: UInt64 = 1
    /// Connections written to in this loop turn: flushed at its end, one `sendmsg` each.
    private var unflushed: [TCPConnection] = []

    init(loop: EventLoop, api: HTTPAPI, metrics: Metrics, log: Log) {
        self.loop = loop
        self.api = api
        self.metrics = metrics
        self.log = log
        budget = ClientBudget(loop: loop)
        // Registered after the group commit's hook, so what a commit releases goes out in the
        // same turn.
        loop.addTurnEndHook { [unowned self] in self.flushAll() }
    }

    /// A flush that drains a socket lets its owner write more (the next backlog page), which
    /// queues again: a few rounds, then a wake-up so the loop comes back for the rest.
    private func flushAll() {
        for _ in 0..<4 where !unflushed.isEmpty {
            let list = unflushed
            unflushed.removeAll(keepingCapacity: true)
            for tcp in list { tcp.flush() }
        }
        if !unflushed.isEmpty { loop.execute {} }
    }

    var now: Int64 { loop.nowMs }
    var connectionCount: Int { connections.count }

    func listen(_ address: Address) throws(NetError) {
        listener = try loop.listenTCP(host: address.host, port: address.port) { [unowned self] tcp in self.accepted(tcp) }
        scheduleSweep()
    }

    private func accepted(_ tcp: TCPConnection) {
        guard connections.count < Self.maxConnections else {
            log.warn("refusing a client connection: \(connections.count) open")
            tcp.abort()
            return
        }
        tcp.corked = true
        tcp.onCorkedWrite = { [unowned self, unowned tcp] in self.unflushed.append(tcp) }
        let connection = ClientConnection(id: nextID, tcp: tcp, server: self, limits: limits, now: now)
        nextID += 1
        connections[connection.id] = connection
        connection.start()
    }

    func removed(_ connection: ClientConnection) {
        connections[connection.id] = nil
    }

    private func scheduleSweep() {
        loop.schedule(afterMs: Self.sweepIntervalMs) { [weak self] in
            guard let self else { return }
            let now = self.now
            for connection in Array(connections.values) {
                connection.sweep(now: now)
                connection.webSocket?.sweep(now: now)
            }
            scheduleSweep()
        }
    }

    func stop() {
        listener?.close()
        listener = nil
        for connection in Array(connections.values) {
            if let ws = connection.webSocket { ws.close(code: 1001, reason: "node shutting down") } else { connection.close() }
        }
        // The loop may not turn again: the close frames leave now.
        flushAll()
    }
}
