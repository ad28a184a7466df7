import Chat
import Glibc
import Net
import Peer
import Replication
import Ring
import Store

/// The shell around `ReplicaCore` (docs/REPLICATION.md): feeds it membership, time, register
/// messages, local commits and followers' answers, and carries out what it decides: the
/// register's messages (after persisting to `cluster.db`), appends of log entries read from
/// the shard files, snapshot transfers, releasing or failing the shard service's waiting
/// replies. As a follower it checks and applies appends; it retires copies nobody needs.
/// What a checker watches the replication shell do (the simulation checks each release and
/// commit as it happens).
public protocol ReplicatorObserver: AnyObject {
    /// The replies up to `through` are about to be released under `config`.
    func released(shard: Int, through: Int64, config: ShardConfig)
    /// A config was learned as committed (and persisted).
    func committed(shard: Int, config: ShardConfig)
    func steppedDown(shard: Int)
    func installedSnapshot(shard: Int, from: String)
}

public final class Replicator: ReplicationGate, ShardRoutes {
    static let tickMs: Int64 = 100
    static let tableEveryTicks = 20
    private var ticks = 0
    static let retireCheckMs: Int64 = 1_000
    static let appendTimeoutMs: Int64 = 5_000
    static let snapshotTimeoutMs: Int64 = 300_000
    static let chunkBytes = 1 << 20
    static let chunkTimeoutMs: Int64 = 30_000
    static let beginTimeoutMs: Int64 = 120_000

    let me: String
    let loop: Timers
    let files: ShardFiles
    let service: ShardService
    let peer: PeerMessenger
    let store: ConfigStore
    let log: (String) -> Void
    /// The membership as gossip shows it now (the node's `ClusterView`).
    let view: () -> ClusterView
    public private(set) var core: ReplicaCore

    /// Each shard's node order for the current ring: its preference list, then the other ring
    /// members in a per-shard pseudo-random order (where stand-in replicas come from).
    private var orders: [[String]] = []
    private var ordersFor: [String] = []
    /// Shards whose snapshot this node is pulling (appends to them wait).
    private var installing: Set<Int> = []
    public var installingShards: [Int] { installing.sorted() }
    private var checkingRetire: Set<Int> = []
    /// Appends and snapshot offers taken per shard (a counter): a copy that answered one
    /// while its retirement was being asked about is kept, since the primary may now count
    /// on the position it reported.
    private var appendsTaken: [Int: UInt64] = [:]
    /// Snapshots made for followers, by "shard/requester", until they say they are done.
    private var outgoing: [String: SnapshotSource] = [:]
    public private(set) var snapshotsReceived = 0
    public private(set) var snapshotsSent = 0
    public private(set) var retired = 0
    /// Appends refused because a snapshot of their shard was being installed (the primary
    /// sends them again once it is).
    public private(set) var refusedWhileInstalling = 0
    /// Rises whenever the shards' configurations or this node's part in them may have
    /// changed (the core acted, or membership changed): a cached status older than it is stale.
    public private(set) var changes: UInt64 = 0
    /// Told of the decisions a checker holds to account (the simulation's); nil in a node.
    public weak var observer: ReplicatorObserver?

    /// `files.runner` does the slow disk work (the node's worker threads; inline in a
    /// simulation); `store` is the node's `cluster.db`.
    public init(me: String, loop: Timers, files: ShardFiles, service: ShardService, peer: PeerMessenger, store: ConfigStore,
                view: @escaping () -> ClusterView, initial: @escaping (Int) -> ShardConfig, log: @escaping (String) -> Void) throws {
        self.me = me
        self.loop = loop
        self.files = files
        self.service = service
        self.peer = peer
        self.store = store
        self.view = view
        self.log = log
        let shape = view()
        core = ReplicaCore(me: me, shardCount: shape.shardCount, replication: shape.replication, initial: initial,
                           acceptor: try store.loadAcceptor(), known: try store.loadKnown(),
                           ballotCounter: try store.loadBallotCounter(), logHead: { _ in 0 })
        core.logHead = { [files] shard in files.exists(shard: shard) ? ((try? files.store(shard).lastLSN) ?? 0) : 0 }
        files.mayCreate = { [unowned self] shard in core.leads(shard) }
        service.gate = self
    }

    /// A founder not heard from yet counts as alive this long after start: nodes of a new
    /// cluster start within moments of each other, and taking over from one that is merely
    /// slower to start would move every shard twice.
    static let startGraceMs: Int64 = 5_000
    private var startedAtMs: Int64 = 0
    private var heardFrom: Set<String> = []

    /// False until the shard files on disk are open: the core starts leading only once each
    /// shard's log head can be read without opening (or migrating) a file on the loop.
    private var started = false
    /// Register messages that arrived before the start, handled right after it.
    private var early: [(payload: [UInt8], node: String)] = []
    /// Register messages kept before the start at most; beyond, they are dropped like lost
    /// messages (proposers retry, and every node resends its table every 2 s).
    static let maxEarlyRegisterMessages = 10_000

    public func start() {
        startedAtMs = loop.monotonicMs
        let shards = files.shardsOnDisk()
        var left = shards.count
        guard left > 0 else { return begin() }
        for shard in shards {
            files.open(shard, create: false) { [weak self] result in
                guard let self else { return }
                if case .failure(let error) = result { log("shard \(shard) cannot be opened: \(error)") }
                left -= 1
                if left == 0 { begin() }
            }
        }
    }

    private func begin() {
        started = true
        loop.schedule(afterMs: max(1, startedAtMs + Self.startGraceMs + 1 - loop.monotonicMs)) { [weak self] in
            self?.membershipChanged()
        }
        membershipChanged()
        for message in early { received(register: message.payload, from: message.node) }
        early = []
        scheduleTick()
        scheduleRetireCheck()
    }

    // MARK: ReplicationGate

    public func term(_ shard: Int) -> Int64 { core.term(shard) }
    public func released(_ shard: Int) -> Int64 { core.released(shard) }
    public func committed(shard: Int, lsn: Int64) {
        run(core.onLocalCommit(shard: shard, lsn: lsn, nowMs: loop.monotonicMs))
    }

    /// Served here only once its store is open (a file to create or migrate is opened on
    /// the workers meanwhile, and requests are retried by the router).
    public func serves(_ shard: Int) -> Bool { core.serves(shard, nowMs: loop.monotonicMs) && ready(shard) }
    /// False only once this node knows the membership and sees no majority in it (before its
    /// start it knows nothing yet: requests wait and retry as usual).
    public var hasMajority: Bool { core.ring.isEmpty || core.hasMajority }
    public func reaches(_ node: String) -> Bool { !unreachablePeers.contains(node) }
    public func relays(avoiding target: String) -> [String] {
        let cut = unreachablePeers
        return view().liveNodes(except: me).filter { $0 != target && !cut.contains($0) }
    }
    public func route(_ shard: Int) -> String? {
        let node = core.route(shard, nowMs: loop.monotonicMs)
        return node == me && !ready(shard) ? nil : node
    }

    /// Whether the shard's store is open, opening it now if that is cheap (an existing file at
    /// the current schema); otherwise an open starts on the workers and this says false.
    private func ready(_ shard: Int) -> Bool { files.isOpen(shard) || (try? files.store(shard)) != nil }

    // MARK: Membership and time

    public func membershipChanged() {
        changes &+= 1
        let view = self.view()
        if view.ring != ordersFor { rebuildOrders(view) }
        var alive = Set(view.nodes.values.filter { $0.status.isInCluster }.map(\.id))
        heardFrom.formUnion(alive)
        if loop.monotonicMs - startedAtMs < Self.startGraceMs {
            alive.formUnion(view.ring.filter { !heardFrom.contains($0) })
        }
        alive.insert(me)
        guard started else { return }
        let orders = self.orders
        run(core.setMembers(ring: view.ring, alive: alive, order: { orders.indices.contains($0) ? orders[$0] : [] },
                            nowMs: loop.monotonicMs))
    }

    private func rebuildOrders(_ view: ClusterView) {
        ordersFor = view.ring
        orders = (0..<view.shardCount).map { shard in
            let list = view.placement.preferenceList(shard: shard)
            let rest = view.ring.filter { !list.contains($0) }
                .sorted { StableHash.xxh64("\(shard)/\($0)") < StableHash.xxh64("\(shard)/\($1)") }
            return list + rest
        }
    }

    private func scheduleTick() {
        loop.schedule(afterMs: Self.tickMs) { [weak self] in
            guard let self else { return }
            run(core.tick(nowMs: loop.monotonicMs))
            watchLinks()
            ticks += 1
            // Anti-entropy: a node that missed a `learn` (a dropped connection) hears the
            // config from a random peer within a few seconds.
            if ticks % Self.tableEveryTicks == 0 {
                // Each live peer in turn (no system randomness: a simulated run replays).
                let live = view().liveNodes(except: me)
                if !live.isEmpty { peerUp(live[(ticks / Self.tableEveryTicks) % live.count]) }
            }
            scheduleTick()
        }
    }

    /// A peer connection came up: tell it every config we know committed.
    public func peerUp(_ node: String) {
        let table = core.table()
        guard !table.isEmpty else { return }
        peer.send(node, operation: ClusterOp.register.rawValue, payload: ReplicaCodec.encode(.table(table)))
    }

    func received(register payload: [UInt8], from node: String) {
        guard started else {
            if early.count < Self.maxEarlyRegisterMessages { early.append((payload, node)) }
            return
        }
        guard let message = try? ReplicaCodec.decode(payload, maxShard: core.shardCount) else {
            return log("malformed register message from \(node)")
        }
        run(core.onMessage(from: node, message, nowMs: loop.monotonicMs))
    }

    // MARK: Carrying out actions

    private func run(_ actions: [ReplicaCore.Action]) {
        if !actions.isEmpty { changes &+= 1 }
        for action in actions {
            switch action {
            case .send(let to, let message):
                peer.send(to, operation: ClusterOp.register.rawValue, payload: ReplicaCodec.encode(message))
            case .broadcast(let message):
                let payload = ReplicaCodec.encode(message)
                // Leaving nodes too: they wait to learn that nobody counts on their copies.
                let view = self.view()
                for node in view.nodes.values.sorted(by: { $0.id < $1.id }) where node.id != me && node.meta != nil && node.status != .dead {
                    peer.send(node.id, operation: ClusterOp.register.rawValue, payload: payload)
                }
            case .ship(let shard, let to, let after, let through, let epoch, let generation):
                ship(shard, to: to, after: after, through: through, epoch: epoch, generation: generation)
            case .snapshot(let shard, let to, let epoch, let generation):
                offerSnapshot(shard, to: to, epoch: epoch, generation: generation)
            case .release(let shard, let through):
                observer?.released(shard: shard, through: through, config: core.config(shard))
                service.release(shard: shard, through: through)
            case .stepDown(let shard):
                observer?.steppedDown(shard: shard)
                service.abandon(shard: shard)
            case .startLeading(let shard):
                service.startedLeading(shard: shard)
            case .persistSlot(let shard, let slot):
                guard persist({ () throws(StoreError) in try store.saveSlot(shard, slot) }) else { return }
            case .persistKnown(let shard, let config):
                guard persist({ () throws(StoreError) in try store.saveKnown(shard, config) }) else { return }
                observer?.committed(shard: shard, config: config)
            case .persistBallot(let counter):
                guard persist({ () throws(StoreError) in try store.saveBallotCounter(counter) }) else { return }
            case .log(let text):
                log(text)
            }
        }
    }

    /// An acceptor must not answer what it could not store: the rest of the batch is dropped.
    private func persist(_ body: () throws(StoreError) -> Void) -> Bool {
        do { try body(); return true } catch {
            log("cluster.db write failed: \(error); not answering")
            return false
        }
    }

    // MARK: Leading: appends and snapshots

    private func ship(_ shard: Int, to node: String, after: Int64, through: Int64, epoch: Int64, generation: UInt64) {
        guard files.isOpen(shard) else {
            // Opened (or, for a shard led before its first write, created) on the workers first.
            return files.open(shard, create: true) { [weak self] result in
                guard let self else { return }
                guard case .success = result else { return log("shard \(shard): cannot open it to ship entries: \(result)") }
                ship(shard, to: node, after: after, through: through, epoch: epoch, generation: generation)
            }
        }
        let now = loop.monotonicMs
        guard let store = try? files.store(shard), let prevTerm = try? store.term(at: after),
              let range = try? store.encodedEntries(after: after, through: through) ?? nil else {
            // Our log no longer reaches back that far: the follower needs a snapshot.
            return run(core.onAppendReply(shard: shard, from: node, epoch: epoch, generation: generation,
                                          .mismatch(lastLSN: after, lastTerm: -1), matches: false, nowMs: now))
        }
        // Several appends when the range is large; sent in order on one connection. An empty
        // range is a probe: the follower answers with where its log stands.
        var start = 0
        repeat {
            var encoded: [[UInt8]] = [], bytes = 0, end = start
            while end < range.count {
                if !encoded.isEmpty, bytes + range[end].bytes.count > ReplicaWire.maxAppendBytes { break }
                encoded.append(range[end].bytes)
                bytes += range[end].bytes.count
                end += 1
            }
            let append = ReplicaWire.Append(shard: shard, epoch: epoch, prevLSN: start == 0 ? after : range[start - 1].lsn,
                                            prevTerm: start == 0 ? prevTerm : range[start - 1].term, entries: [])
            sendAppend(ReplicaWire.encode(append, encodedEntries: encoded), shard: shard, to: node, epoch: epoch,
                       generation: generation)
            start = end
        } while start < range.count
    }

    private func sendAppend(_ payload: [UInt8], shard: Int, to node: String, epoch: Int64, generation: UInt64) {
        let sentAt = loop.monotonicMs
        links.sent(to: node, atMs: sentAt)
        peer.request(node, operation: ClusterOp.append.rawValue, payload: payload, timeoutMs: Self.appendTimeoutMs) { [weak self] result in
            guard let self else { return }
            if Self.isAnswer(result) { links.answered(by: node) }
            guard case .success(let bytes) = result, let reply = try? ReplicaWire.decodeReply(bytes) else { return }
            var matches = false
            if case .mismatch(let lsn, let term) = reply {
                // Not open (closed meanwhile): no judgement now; the core retransmits and asks again.
                guard let store = try? files.store(shard) else { return }
                if lsn == 0 {
                    // Term -1: the follower's copy diverged (see `follow`), even with no entries.
                    matches = term == 0 && (try? store.entries(after: 0, limit: 1)) != nil
                } else {
                    matches = (try? store.term(at: lsn)) == term
                }
            }
            run(core.onAppendReply(shard: shard, from: node, epoch: epoch, generation: generation, reply, matches: matches,
                                   sentAtMs: sentAt, nowMs: loop.monotonicMs))
        }
    }

    /// Whether a request's result came from the peer (its answer or its handler's error), as
    /// opposed to the link failing or timing out.
    static func isAnswer(_ result: Result<[UInt8], PeerError>) -> Bool {
        switch result {
        case .success, .failure(.remote): return true
        default: return false
        }
    }

    // MARK: The links, as replication sees them

    /// Unanswered requests to each peer (appends, heartbeats, probes).
    private var links = LinkWatch()
    private var lastProbeMs: Int64 = 0

    /// Peers this node's links cannot reach now (gossip may still say they are alive).
    public var unreachablePeers: Set<String> { links.unreachable(atMs: loop.monotonicMs) }

    /// Each tick: tell the core which peers are unreachable (a follower among them is replaced
    /// by a stand-in), and probe them so a healed link is noticed.
    private func watchLinks() {
        let now = loop.monotonicMs
        let cut = links.unreachable(atMs: now)
        run(core.setUnreachable(cut, nowMs: now))
        guard !cut.isEmpty, now - lastProbeMs >= LinkWatch.probeEveryMs else { return }
        lastProbeMs = now
        for node in cut.sorted() {
            peer.request(node, operation: ClusterOp.linkProbe.rawValue, payload: [], timeoutMs: LinkWatch.timeoutMs) { [weak self] result in
                if Self.isAnswer(result) { self?.links.answered(by: node) }
            }
        }
    }

    func answerLinkProbe(respond: (Result<[UInt8], PeerHandlerError>) -> Void) { respond(.success([])) }

    private func offerSnapshot(_ shard: Int, to node: String, epoch: Int64, generation: UInt64) {
        log("shard \(shard): sending \(node) a snapshot")
        peer.request(node, operation: ClusterOp.snapshotOffer.rawValue, payload: ReplicaWire.shardEpoch(shard, epoch),
                     timeoutMs: Self.snapshotTimeoutMs) { [weak self] result in
            guard let self else { return }
            guard case .success(let bytes) = result, let reply = try? ReplicaWire.decodeReply(bytes) else {
                core.onSnapshotFailed(shard: shard, to: node, generation: generation)
                return
            }
            if case .ack = reply { snapshotsSent += 1 }
            links.answered(by: node)
            run(core.onAppendReply(shard: shard, from: node, epoch: epoch, generation: generation, reply, matches: false,
                                   nowMs: loop.monotonicMs))
        }
    }

    // MARK: Following

    private func refuseWhileInstalling(_ respond: (Result<[UInt8], PeerHandlerError>) -> Void) {
        refusedWhileInstalling += 1
        respond(.failure("installing a snapshot"))
    }

    /// Whether entries (or a snapshot) written under `epoch` may be taken; a newer epoch may
    /// make this node step down first.
    private func admit(_ shard: Int, epoch: Int64, from node: String) -> Bool {
        let admission = core.admitAppend(shard: shard, epoch: epoch, from: node, nowMs: loop.monotonicMs)
        run(admission.actions)
        return admission.admitted
    }

    private func refusal(_ shard: Int) -> [UInt8] { ReplicaWire.encode(.refuse(epoch: core.fence(shard))) }

    func answerAppend(_ payload: [UInt8], from node: String, respond: @escaping (Result<[UInt8], PeerHandlerError>) -> Void) {
        guard let append = try? ReplicaWire.decodeAppend(payload, maxShard: core.shardCount) else { return respond(.failure("malformed append")) }
        let shard = append.shard
        guard admit(shard, epoch: append.epoch, from: node) else { return respond(.success(refusal(shard))) }
        guard !installing.contains(shard) else { return refuseWhileInstalling(respond) }
        appendsTaken[shard, default: 0] &+= 1
        if files.isOpen(shard) || !(files.exists(shard: shard) || files.isOpening(shard)) {
            return follow(append, from: node, store: files.isOpen(shard) ? try? files.store(shard) : nil, respond: respond)
        }
        // A file not open yet (after a restart it may need migrating): opened on the workers.
        files.open(shard, create: false) { [weak self] result in
            guard let self else { return }
            guard case .success(let store) = result else { return respond(.failure("shard \(shard) cannot be opened")) }
            guard !installing.contains(shard) else { return refuseWhileInstalling(respond) }
            follow(append, from: node, store: store, respond: respond)
        }
    }

    /// Checks an append against this copy's log (nil: the shard has no file here yet) and
    /// applies what it adds.
    private func follow(_ append: ReplicaWire.Append, from node: String, store: ShardStore?,
                        respond: @escaping (Result<[UInt8], PeerHandlerError>) -> Void) {
        let shard = append.shard
        let last = store?.lastLSN ?? 0
        let check = FollowerCheck.check(senderEpoch: append.epoch, knownEpoch: append.epoch, prevLSN: append.prevLSN,
                                        prevTerm: append.prevTerm, terms: append.entries.map(\.term), myLastLSN: last,
                                        termAt: { lsn in (try? store?.term(at: lsn)) ?? (lsn == 0 ? 0 : nil) })
        switch check {
        case .refuse(let epoch):
            respond(.success(ReplicaWire.encode(.refuse(epoch: epoch))))
        case .mismatch:
            respond(.success(ReplicaWire.encode(.mismatch(lastLSN: last, lastTerm: store?.lastTerm ?? 0))))
        case .apply(let from):
            let todo = append.entries.dropFirst(from)
            guard let store else {
                guard !todo.isEmpty else { return respond(.success(ReplicaWire.encode(.ack(lsn: 0)))) }
                // The first entries of a shard new here: its file is created on the workers,
                // then the append is checked again against it.
                return files.open(shard, create: true) { [weak self] result in
                    guard let self else { return }
                    guard case .success(let store) = result else { return respond(.failure("shard \(shard) cannot be created")) }
                    guard !installing.contains(shard) else { return refuseWhileInstalling(respond) }
                    follow(append, from: node, store: store, respond: respond)
                }
            }
            if !todo.isEmpty {
                do {
                    for entry in todo { try store.apply(entry) }
                    try store.commitApplied()
                } catch {
                    if error.isDivergence {
                        // Our rows are not the primary's: answer with a term no log has, so the
                        // primary's log-matching check fails and it sends a snapshot.
                        log("shard \(shard): entries from \(node) conflict with this copy, asking for a snapshot: \(error)")
                        return respond(.success(ReplicaWire.encode(.mismatch(lastLSN: store.lastLSN, lastTerm: -1))))
                    }
                    store.rollback()
                    files.close(shard: shard)
                    log("shard \(shard): applying entries from \(node) failed: \(error)")
                    return respond(.failure("apply failed"))
                }
            }
            // Only what the primary sent is acknowledged: an older tail of ours beyond it is
            // checked (and dropped) by the next append.
            respond(.success(ReplicaWire.encode(.ack(lsn: min(store.lastLSN, append.prevLSN + Int64(append.entries.count))))))
        }
    }

    /// The primary wants us to take a snapshot of the shard from it: pull, install, answer
    /// with the installed log's last LSN.
    func answerSnapshotOffer(_ payload: [UInt8], from node: String, respond: @escaping (Result<[UInt8], PeerHandlerError>) -> Void) {
        guard let (shard, epoch) = try? ReplicaWire.decodeShardEpoch(payload, maxShard: core.shardCount) else {
            return respond(.failure("malformed"))
        }
        guard admit(shard, epoch: epoch, from: node) else { return respond(.success(refusal(shard))) }
        guard !installing.contains(shard) else { return respond(.failure("already installing")) }
        appendsTaken[shard, default: 0] &+= 1
        installing.insert(shard)
        pull(shard, from: node) { [weak self] store in
            guard let self else { return }
            installing.remove(shard)
            guard let store else { return respond(.failure("snapshot transfer failed")) }
            snapshotsReceived += 1
            log("shard \(shard): installed a snapshot from \(node) through entry \(store.lastLSN)")
            observer?.installedSnapshot(shard: shard, from: node)
            respond(.success(ReplicaWire.encode(.ack(lsn: store.lastLSN))))
        }
    }

    /// Pulls the shard's snapshot from `source` chunk by chunk, then installs and opens it.
    /// The disk work (writing, fsync, renaming, opening) runs on the workers.
    private func pull(_ shard: Int, from source: String, done: @escaping (ShardStore?) -> Void) {
        peer.request(source, operation: ClusterOp.snapshotBegin.rawValue, payload: ClusterCodec.shards([shard]),
                     timeoutMs: Self.beginTimeoutMs) { [weak self] result in
            guard let self else { return }
            guard case .success(let bytes) = result, let size = try? ClusterCodec.decodeU64(bytes), size >= 0 else { return done(nil) }
            files.beginSnapshot(shard: shard) { [weak self] result in
                guard let self else { return }
                switch result {
                case .failure(let error):
                    log("shard \(shard): cannot receive a snapshot: \(error)")
                    done(nil)
                case .success(let sink):
                    fetch(shard, from: source, into: sink, size: size, done: done)
                }
            }
        }
    }

    private func fetch(_ shard: Int, from source: String, into sink: SnapshotSink, size: Int64, done: @escaping (ShardStore?) -> Void) {
        let fail = { [weak self] (why: String) in
            self?.log("shard \(shard): snapshot from \(source) failed: \(why)")
            self?.files.abandon(sink)
            done(nil)
        }
        guard sink.received < size else {
            return files.finish(sink) { [weak self] result in
                guard let self else { return }
                guard case .success(let sink) = result else { return fail("\(result)") }
                peer.request(source, operation: ClusterOp.snapshotDone.rawValue, payload: ClusterCodec.shards([shard])) { _ in }
                service.abandon(shard: shard)
                files.install(shard: shard, from: sink) { [weak self] result in
                    switch result {
                    case .success(let store):
                        done(store)
                    case .failure(let error):
                        self?.log("installing shard \(shard) failed: \(error)")
                        done(nil)
                    }
                }
            }
        }
        let length = Int(min(Int64(Self.chunkBytes), size - sink.received))
        peer.request(source, operation: ClusterOp.snapshotChunk.rawValue,
                     payload: ClusterCodec.chunkRequest(shard: shard, offset: sink.received, length: length),
                     timeoutMs: Self.chunkTimeoutMs) { [weak self] result in
            guard let self else { return fail("stopped") }
            guard case .success(let bytes) = result, bytes.count == length else { return fail("chunk at \(sink.received): \(result)") }
            files.write(sink, bytes) { [weak self] result in
                guard let self else { return fail("stopped") }
                guard case .success(let next) = result else { return fail("\(result)") }
                fetch(shard, from: source, into: next, size: size, done: done)
            }
        }
    }

    // MARK: Giving snapshots

    func answerSnapshotBegin(_ payload: [UInt8], from requester: String, respond: @escaping (Result<[UInt8], PeerHandlerError>) -> Void) {
        guard let shard = try? ClusterCodec.decodeShards(payload, max: core.shardCount).first else { return respond(.failure("malformed")) }
        guard core.leads(shard), files.exists(shard: shard) else { return respond(.failure("\(me) does not lead shard \(shard)")) }
        service.commitAll()
        // Made on the workers (`VACUUM INTO` through its own connection) while the loop writes on.
        files.makeSnapshot(shard: shard, tag: requester) { [weak self] result in
            guard let self else { return }
            switch result {
            case .failure(let error):
                respond(.failure(PeerHandlerError("snapshot of shard \(shard) failed: \(error)")))
            case .success(let source):
                outgoing["\(shard)/\(requester)"] = source
                respond(.success(ClusterCodec.u64(source.size)))
            }
        }
    }

    /// A chunk of a snapshot made for `requester`, read on the workers.
    func answerSnapshotChunk(_ payload: [UInt8], from requester: String, respond: @escaping (Result<[UInt8], PeerHandlerError>) -> Void) {
        guard let (shard, offset, length) = try? ClusterCodec.decodeChunkRequest(payload), length <= Self.chunkBytes,
              let source = outgoing["\(shard)/\(requester)"], offset >= 0, offset <= source.size,
              Int64(length) <= source.size - offset
        else { return respond(.failure("no such snapshot range")) }
        files.read(source, offset: offset, length: length) { result in
            switch result {
            case .success(let bytes): respond(.success(bytes))
            case .failure: respond(.failure("snapshot unreadable"))
            }
        }
    }

    func answerSnapshotDone(_ payload: [UInt8], from requester: String) -> Result<[UInt8], PeerHandlerError> {
        guard let shard = try? ClusterCodec.decodeShards(payload, max: core.shardCount).first,
              let source = outgoing.removeValue(forKey: "\(shard)/\(requester)") else { return .success([]) }
        files.discard(source)
        return .success([])
    }

    // MARK: Retiring copies nobody needs

    func answerHoldQuery(_ payload: [UInt8], from node: String) -> Result<[UInt8], PeerHandlerError> {
        guard let shard = try? ClusterCodec.decodeShards(payload, max: core.shardCount).first else { return .failure("malformed") }
        guard let answer = core.needsCopy(shard, of: node) else { return .success(ReplicaWire.holdAnswer(epoch: -1, needed: true)) }
        return .success(ReplicaWire.holdAnswer(epoch: answer.epoch, needed: answer.needed))
    }

    private func scheduleRetireCheck() {
        loop.schedule(afterMs: Self.retireCheckMs) { [weak self] in
            guard let self else { return }
            checkRetire()
            scheduleRetireCheck()
        }
    }

    /// A copy this node does not want for itself is retired once the shard's primary, at an
    /// epoch no older than any this node has seen, says it does not count on it either.
    private func checkRetire() {
        for shard in files.shardsOnDisk() where !core.wantsCopy(shard) && !installing.contains(shard) && !checkingRetire.contains(shard) {
            guard let primary = core.route(shard, nowMs: loop.monotonicMs), primary != me else { continue }
            checkingRetire.insert(shard)
            let taken = appendsTaken[shard]
            peer.request(primary, operation: ClusterOp.holdQuery.rawValue, payload: ClusterCodec.shards([shard])) { [weak self] result in
                guard let self else { return }
                checkingRetire.remove(shard)
                guard case .success(let bytes) = result, let answer = try? ReplicaWire.decodeHoldAnswer(bytes),
                      answer.epoch >= core.fence(shard), !answer.needed, !core.wantsCopy(shard), !installing.contains(shard),
                      appendsTaken[shard] == taken else { return }
                service.abandon(shard: shard)
                do {
                    try files.retire(shard: shard)
                    retired += 1
                    log("retired shard \(shard): \(primary) leads it at epoch \(answer.epoch) without this copy")
                } catch {
                    log("retiring shard \(shard) failed: \(error)")
                }
            }
        }
    }

    /// True when this node holds no shard the cluster still counts on (a leaving node may stop).
    var holdsNothingNeeded: Bool {
        (0..<core.shardCount).allSatisfy { !core.wantsCopy($0) }
    }
}
