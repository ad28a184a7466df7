import Wire

/// What a `PeerTransport` needs to know about its cluster, and every bound it keeps. The
/// defaults suit a LAN cluster; tests shrink the timers and bounds to reach the rare paths.
public struct PeerSettings: Sendable {
    /// The cluster config's "cluster": a peer in another cluster is refused (goaway 3).
    public var clusterName: String
    /// This node's id from the cluster config: what peers call it.
    public var nodeID: String
    /// The cluster config's "secret" as UTF-8 bytes: the handshake's HMAC key. A node without
    /// it is refused (docs/WIRE.md, "Handshake").
    public var secret: [UInt8]

    /// Default deadline of a request, from the call until its response: 5 s, far above a LAN
    /// round trip, short enough that a caller waiting on a dead peer gives up and retries.
    public var requestTimeoutMs: Int64 = 5_000
    /// Bytes one peer may hold on this node, waiting to go out: the connection's unsent bytes
    /// (kernel refused them, `TCPConnection.pendingWriteBytes`), the current batch, and the
    /// messages queued while disconnected or while `maxInFlightRequestsPerPeer` are pending.
    /// Above it new requests fail at once with `.overloaded` and oneways are dropped (counted
    /// in `PeerTransportStats.droppedMessages`). 64 MiB: four maximum frames, about 0.5 s of a
    /// 1 Gbit/s link, so a slow peer costs bounded memory instead of all of it.
    public var maxQueuedBytesPerPeer: Int = 64 << 20
    /// Messages that may wait for one peer (see `maxQueuedBytesPerPeer`), whatever their size:
    /// 65,536 bounds the per-message bookkeeping for tiny payloads. Over it: `.overloaded`.
    public var maxQueuedMessagesPerPeer: Int = 65_536
    /// Requests written to a peer and not yet answered. More wait in the queue, in order, until
    /// responses free a slot (RequestTracker's bound, docs/WIRE.md "Limits").
    public var maxInFlightRequestsPerPeer: Int = RequestTracker<Int>.defaultMaxInFlight
    /// Requests from one connection handed to `onRequest` and not yet answered. Over it the
    /// connection stops reading (TCP flow control then slows the sender) until the count falls
    /// to half: 10,000 keeps a busy peer's pipeline full while bounding the work it can pile up.
    public var maxUnansweredRequestsPerPeer: Int = 10_000
    /// A connection whose handshake is not done by then is refused (goaway 5):
    /// `PeerHandshake.timeoutNanos`, 5 s.
    public var handshakeTimeoutMs: Int64 = Int64(PeerHandshake.timeoutNanos / 1_000_000)
    /// Bound on one TCP connect: 2 s is hundreds of LAN round trips; the kernel's own SYN
    /// retries would take minutes.
    public var connectTimeoutMs: Int64 = 2_000
    /// Reconnect delays after failed attempts (`Backoff`, full jitter): first at most 100 ms,
    /// doubling to at most 5 s, so a restarted peer is redialed within seconds while a dead one
    /// costs one dial per ~2.5 s on average.
    public var backoffMinMs: Int64 = 100
    public var backoffMaxMs: Int64 = 5_000
    /// Consecutive failed dials after which messages waiting for the peer fail with
    /// `.unreachable` (a refused handshake fails them at once: retrying will not fix a wrong
    /// secret). 3 covers a peer restarting (about 100 + 200 ms of backoff).
    public var dialAttemptsBeforeUnreachable: Int = 3
    /// An established connection that sent nothing for this long sends a `ping`: 1 s.
    public var pingIntervalMs: Int64 = 1_000
    /// An established connection that received nothing (not even a `pong`) for this long is
    /// closed: 5 s, five missed pings, so a half-dead TCP connection (peer powered off, cable
    /// pulled) frees its socket and its pending requests fail. Gossip decides node death; this
    /// only cleans up sockets.
    public var deadConnectionTimeoutMs: Int64 = 5_000
    /// Accepted connections (handshaking or established) at once; more are closed at accept.
    /// 1,024 is far above any cluster's size, so only a connection storm hits it.
    public var maxInboundConnections: Int = 1_024
    /// Accepted connections that have not finished the handshake, at once (`AcceptGate`). When
    /// full, a new one evicts the oldest handshaking connection of the address holding the most
    /// of them. 64: a cluster's peers redialing at once after a restart need a few, and an idle
    /// storm holds 64 sockets and timers, not 1,024.
    public var maxHandshakingConnections: Int = 64
    /// Accepts per second from one source address, and the bucket's size (`AcceptGate`): over
    /// it a connection is closed at accept. 50/s with a burst of 100 is ten times what a whole
    /// cluster's redials take; addresses of known peers are exempt.
    public var acceptRatePerSecond: Int = 50
    public var acceptBurst: Int = 100
    /// Source addresses whose accept buckets are remembered: 1,024 (a few hundred KiB at most).
    public var maxAcceptRateAddresses: Int = 1_024
    /// Refusal log lines (`onRefusedLog`): at most one per kind per 10 s, with a count of those
    /// held back, so a storm writes a handful of lines instead of thousands.
    public var refusalLogIntervalMs: Int64 = 10_000
    /// Kinds of refusal line tracked by that log: 64 (a handful of reasons per direction, one
    /// per peer dialed); more share one kind.
    public var maxRefusalLogKinds: Int = 64
    /// Bytes per write: `FrameBatch.defaultMaxBatchBytes` (64 KiB).
    public var maxBatchBytes: Int = FrameBatch.defaultMaxBatchBytes
    /// Longest error message sent in an error response, in UTF-8 bytes (cut at a character
    /// boundary): 4 KiB is plenty for a reason, and keeps an error from carrying a payload.
    public var maxErrorMessageBytes: Int = 4_096

    public init(clusterName: String, nodeID: String, secret: [UInt8]) {
        self.clusterName = clusterName
        self.nodeID = nodeID
        self.secret = secret
    }

    var acceptGateSettings: AcceptGate<ObjectIdentifier>.Settings {
        .init(maxHandshaking: maxHandshakingConnections, ratePerSecond: acceptRatePerSecond, burst: acceptBurst,
              maxAddresses: maxAcceptRateAddresses)
    }

    var handshakeConfiguration: PeerHandshake.Configuration {
        PeerHandshake.Configuration(clusterName: clusterName, localNodeId: nodeID, sharedSecret: secret)
    }
}
