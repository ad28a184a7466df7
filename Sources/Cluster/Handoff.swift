import Chat
import Glibc
import Net
import Peer
import Ring
import Store

/// Which shards this node holds, and moving shards between nodes when the ring changes.
///
/// A node serves a shard only when its view makes it the primary AND it holds the shard's
/// data. When the ring gives it a shard it does not hold, it asks the other nodes who holds
/// it and pulls a snapshot from that node; the holder, whose own view no longer makes it
/// primary, has already stopped serving the shard, so no write can land between the snapshot
/// and the switch. If nobody holds the shard and every ring member agrees it is ours, it
/// starts empty. After the pull the old holder retires its copy (`handed-off/`).
public final class Handoff {
    /// How often held and wanted shards are compared with the ring.
    static let reconcileIntervalMs: Int64 = 300
    /// Snapshot bytes per request: small enough to interleave with chat traffic.
    static let chunkBytes = 1 << 20
    static let chunkTimeoutMs: Int64 = 30_000
    /// Snapshot creation can take a while for a large shard.
    static let beginTimeoutMs: Int64 = 60_000

    let me: String
    let loop: EventLoop
    let files: ShardFiles
    let service: ShardService
    let peer: PeerTransport
    let workers: WorkerPool
    let log: (String) -> Void
    unowned let cluster: ClusterNode

    private(set) var held: Set<Int>
    private struct Pull {
        var source: String
        var size: Int64 = 0
        var offset: Int64 = 0
        var fd: Int32 = -1
        var path: String
    }
    private var pulls: [Int: Pull] = [:]
    private struct Outgoing {
        var requester: String
        var path: String
        var size: Int64
    }
    private var outgoing: [Int: Outgoing] = [:]
    private var asking = false
    private var claiming: Set<Int> = []
    /// Re-ask delay when some node's view had not caught up yet.
    static let askAgainMs: Int64 = 50
    private var checkingStale: Set<Int> = []
    public private(set) var shardsReceived = 0
    public private(set) var shardsSent = 0

    init(me: String, loop: EventLoop, files: ShardFiles, service: ShardService, peer: PeerTransport, workers: WorkerPool,
         cluster: ClusterNode, log: @escaping (String) -> Void) {
        self.me = me
        self.loop = loop
        self.files = files
        self.service = service
        self.peer = peer
        self.workers = workers
        self.cluster = cluster
        self.log = log
        held = Set(files.shardsOnDisk())
        files.mayCreate = { [unowned self] shard in held.contains(shard) }
    }

    public func serves(_ shard: Int) -> Bool { held.contains(shard) && pulls[shard] == nil }

    public var heldShards: [Int] { held.sorted() }
    public var pendingShards: [Int] { pulls.keys.sorted() }

    func start() {
        reconcile()
        scheduleReconcile()
    }

    private func scheduleReconcile() {
        loop.schedule(afterMs: Self.reconcileIntervalMs) { [weak self] in
            self?.reconcile()
            self?.scheduleReconcile()
        }
    }

    /// Compares what this node holds with what the ring gives it.
    func reconcile() {
        let view = cluster.view
        let led = Set(view.placement.shardsLed(by: me))
        let missing = led.filter { !held.contains($0) && pulls[$0] == nil && !claiming.contains($0) }.sorted()
        if !missing.isEmpty, !asking { ask(missing) }
        // Copies of shards led elsewhere: retired once their primary holds them.
        for shard in held.sorted() where !led.contains(shard) && outgoing[shard] == nil && !checkingStale.contains(shard) {
            guard let primary = view.primary(shard: shard), primary != me else { continue }
            checkingStale.insert(shard)
            peer.request(primary, operation: ClusterOp.whoHolds.rawValue, payload: ClusterCodec.shards([shard])) { [weak self] result in
                guard let self else { return }
                checkingStale.remove(shard)
                guard case .success(let bytes) = result,
                      let answer = try? ClusterCodec.decodeHoldings(bytes, max: ShardMap.maxShardCount),
                      answer.first?.held == true, answer.first?.primary == primary,
                      cluster.view.placement.primary(shard: shard) != me, outgoing[shard] == nil else { return }
                retire(shard, reason: "\(primary) holds it")
            }
        }
    }

    /// Asks every reachable node which of `missing` it holds, then pulls or claims each.
    private func ask(_ missing: [Int]) {
        let view = cluster.view
        let others = view.nodes.values.filter { $0.id != me && $0.meta != nil && $0.status != .dead }.map(\.id).sorted()
        let ringOthers = view.ring.filter { $0 != me }
        asking = true
        var answers: [String: [(shard: Int, held: Bool, primary: String)]] = [:]
        var remaining = others.count
        let decide: () -> Void = { [weak self] in
            guard let self else { return }
            asking = false
            let everyoneAnswered = ringOthers.allSatisfy { answers[$0] != nil }
            var empty: [Int] = []
            var undecided = false
            for shard in missing where !held.contains(shard) && pulls[shard] == nil {
                guard cluster.view.placement.primary(shard: shard) == me else { continue }
                let holders = answers.filter { $0.value.contains { $0.shard == shard && $0.held } }
                if let source = holders.filter({ $0.value.contains { $0.shard == shard && $0.primary == me } }).keys.sorted().first {
                    pull(shard, from: source)
                } else if holders.isEmpty, everyoneAnswered,
                          ringOthers.allSatisfy({ answers[$0]!.contains { $0.shard == shard && $0.primary == me } }) {
                    empty.append(shard)
                } else {
                    undecided = true
                }
            }
            claimEmpty(empty)
            // The others' views are usually a gossip round behind: ask again soon.
            if undecided { loop.schedule(afterMs: Self.askAgainMs) { [weak self] in self?.reconcile() } }
        }
        guard remaining > 0 else { return decide() }
        for node in others {
            peer.request(node, operation: ClusterOp.whoHolds.rawValue, payload: ClusterCodec.shards(missing)) { [weak self] result in
                guard let self else { return }
                if case .success(let bytes) = result, let list = try? ClusterCodec.decodeHoldings(bytes, max: ShardMap.maxShardCount) {
                    answers[node] = list
                }
                remaining -= 1
                if remaining == 0 { decide() }
            }
        }
    }

    /// Nobody holds them and every ring member agrees they are ours: new, empty shards. Their
    /// files are made on a worker thread (a new cluster makes hundreds at once, which would
    /// stall the loop), and served once they exist, so a restart finds them held.
    private func claimEmpty(_ shards: [Int]) {
        let todo = shards.filter { !claiming.contains($0) }
        guard !todo.isEmpty else { return }
        claiming.formUnion(todo)
        let paths = todo.map { (shard: $0, path: files.path(shard: $0)) }
        let durability = files.durability
        let submitted = workers.submit({ () -> [Int] in
            paths.compactMap { item in
                (try? ShardStore.create(shard: item.shard, path: item.path, durability: durability)) == nil ? item.shard : nil
            }
        }, done: { [weak self] failed in
            guard let self else { return }
            claiming.subtract(todo)
            for shard in todo where !failed.contains(shard) {
                held.insert(shard)
            }
            if !failed.isEmpty { log("cannot create shards \(failed)") }
        })
        if !submitted { claiming.subtract(todo) }
    }

    // MARK: Receiving a shard

    private func pull(_ shard: Int, from source: String) {
        let path = files.directory + "/incoming-\(shard).db"
        pulls[shard] = Pull(source: source, path: path)
        peer.request(source, operation: ClusterOp.handoffBegin.rawValue, payload: ClusterCodec.shards([shard]),
                     timeoutMs: Self.beginTimeoutMs) { [weak self] result in
            guard let self else { return }
            guard case .success(let bytes) = result, let size = try? ClusterCodec.decodeU64(bytes), size >= 0 else {
                pulls[shard] = nil   // asked again at the next reconcile
                return
            }
            let fd = open(path, O_CREAT | O_TRUNC | O_WRONLY | O_CLOEXEC, 0o644)
            guard fd >= 0 else {
                log("cannot write \(path): errno \(errno)")
                pulls[shard] = nil
                return
            }
            pulls[shard]?.size = size
            pulls[shard]?.fd = fd
            log("pulling shard \(shard) (\(size) bytes) from \(source)")
            fetch(shard)
        }
    }

    private func fetch(_ shard: Int) {
        guard let p = pulls[shard] else { return }
        if p.offset >= p.size { return finish(shard) }
        let length = Int(min(Int64(Self.chunkBytes), p.size - p.offset))
        peer.request(p.source, operation: ClusterOp.handoffChunk.rawValue,
                     payload: ClusterCodec.chunkRequest(shard: shard, offset: p.offset, length: length),
                     timeoutMs: Self.chunkTimeoutMs) { [weak self] result in
            guard let self, let p = pulls[shard] else { return }
            guard case .success(let bytes) = result, bytes.count == length,
                  bytes.withUnsafeBytes({ write(p.fd, $0.baseAddress, $0.count) }) == length else {
                abandon(shard)
                return
            }
            pulls[shard]?.offset += Int64(length)
            fetch(shard)
        }
    }

    private func finish(_ shard: Int) {
        guard let p = pulls[shard] else { return }
        fsync(p.fd)
        close(p.fd)
        do {
            try files.install(shard: shard, from: p.path)
        } catch {
            log("installing shard \(shard) failed: \(error)")
            unlink(p.path)
            pulls[shard] = nil
            return
        }
        held.insert(shard)
        pulls[shard] = nil
        shardsReceived += 1
        log("now serving shard \(shard), taken over from \(p.source)")
        peer.request(p.source, operation: ClusterOp.handoffDone.rawValue, payload: ClusterCodec.shards([shard])) { _ in }
    }

    private func abandon(_ shard: Int) {
        guard let p = pulls.removeValue(forKey: shard) else { return }
        if p.fd >= 0 { close(p.fd) }
        unlink(p.path)
        log("pull of shard \(shard) from \(p.source) failed; will retry")
    }

    // MARK: Giving a shard away

    /// whoHolds: answered from the files on disk (a shard claimed but never written has one).
    func answerWhoHolds(_ payload: [UInt8]) -> Result<[UInt8], PeerHandlerError> {
        guard let shards = try? ClusterCodec.decodeShards(payload, max: ShardMap.maxShardCount) else { return .failure("malformed") }
        let view = cluster.view
        return .success(ClusterCodec.holdings(shards.map { shard in
            (shard, pulls[shard] == nil && files.exists(shard: shard), view.placement.primary(shard: shard) ?? "")
        }))
    }

    func answerBegin(_ payload: [UInt8], from requester: String, respond: @escaping (Result<[UInt8], PeerHandlerError>) -> Void) {
        guard let shard = try? ClusterCodec.decodeShards(payload, max: ShardMap.maxShardCount).first else { return respond(.failure("malformed")) }
        guard cluster.view.placement.primary(shard: shard) == requester else {
            return respond(.failure("\(requester) is not the primary of shard \(shard) in \(me)'s view yet"))
        }
        guard files.exists(shard: shard), pulls[shard] == nil else {
            held.remove(shard)
            return respond(.success(ClusterCodec.u64(-1)))
        }
        // Everything accepted for the shard is committed before the copy is made; the view
        // already stops new requests for it here.
        service.commitAll()
        let source = files.path(shard: shard)
        let target = files.directory + "/outgoing-\(shard).db"
        let submitted = workers.submit({ () -> String? in
            do { try Snapshot.make(from: source, into: target); return nil } catch { return "\(error)" }
        }, done: { [weak self] failure in
            guard let self else { return }
            if let failure { return respond(.failure(PeerHandlerError("snapshot of shard \(shard) failed: \(failure)"))) }
            var info = stat()
            guard stat(target, &info) == 0 else { return respond(.failure("snapshot of shard \(shard) vanished")) }
            outgoing[shard] = Outgoing(requester: requester, path: target, size: Int64(info.st_size))
            respond(.success(ClusterCodec.u64(Int64(info.st_size))))
        })
        if !submitted { respond(.failure("busy")) }
    }

    func answerChunk(_ payload: [UInt8], from requester: String) -> Result<[UInt8], PeerHandlerError> {
        guard let (shard, offset, length) = try? ClusterCodec.decodeChunkRequest(payload), length <= Self.chunkBytes,
              let out = outgoing[shard], out.requester == requester, offset >= 0, offset <= out.size,
              Int64(length) <= out.size - offset
        else { return .failure("no such snapshot range") }
        let fd = open(out.path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return .failure("snapshot unreadable") }
        defer { close(fd) }
        var bytes = [UInt8](repeating: 0, count: length)
        let n = bytes.withUnsafeMutableBytes { pread(fd, $0.baseAddress, length, off_t(offset)) }
        guard n == length else { return .failure("short read") }
        return .success(bytes)
    }

    func answerDone(_ payload: [UInt8], from requester: String) -> Result<[UInt8], PeerHandlerError> {
        guard let shard = try? ClusterCodec.decodeShards(payload, max: ShardMap.maxShardCount).first,
              let out = outgoing[shard], out.requester == requester else { return .success([]) }
        unlink(out.path)
        outgoing[shard] = nil
        shardsSent += 1
        retire(shard, reason: "handed to \(requester)")
        return .success([])
    }

    private func retire(_ shard: Int, reason: String) {
        held.remove(shard)
        do {
            try files.retire(shard: shard)
            log("retired shard \(shard): \(reason)")
        } catch {
            log("retiring shard \(shard) failed: \(error)")
        }
    }
}
