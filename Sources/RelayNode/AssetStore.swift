import Chat
import Cluster
import Foundation
import Net
import Peer
import Ring
import Store
import Wire

/// The node's side of assets (docs/ASSETS.md): files moved between nodes by the peer
/// protocol, not the row log. An upload is copied to every replica of its asset shard
/// (primary and in-sync followers) before its row is registered, so the 201 means the file
/// and the row are each on R nodes; a download from a node without the file relays it from
/// a replica piece by piece; a node holding a shard's rows fetches files it lacks (it joined
/// by snapshot, or missed an upload) in the background; files no row names are collected.
final class AssetStore {
    /// One piece of a transfer (a peer request or answer): well under the peer frame bound,
    /// and the memory a transfer holds per replica.
    static let pieceBytes = 256 * 1024
    /// Transfers from other nodes not finished after this are dropped (the sender died).
    static let incomingTimeoutMs: Int64 = 60_000
    /// Rounds of "copy to the replicas, then check the replica set again" before an upload
    /// gives up with `unavailable` (the set changes only on failures and rebalancing).
    static let maxReplicationRounds = 4
    /// How often repair looks for missing files, and collection for unneeded ones (every
    /// minute, or half the grace when `asset_grace_s` is shorter: tests use a second or two).
    static let repairIntervalMs: Int64 = 5_000
    var collectIntervalMs: Int64 { max(500, min(60_000, node.config.assetGraceS * 500)) }
    /// Rows repair looks at per shard and round, and files it fetches at once.
    static let repairRowsPerShard = 200
    static let maxConcurrentRepairs = 2
    /// A stored file younger than this is never collected: its row may still be on its way
    /// (ten minutes, or the grace when shorter).
    var collectMinAgeS: Double { Double(min(600, node.config.assetGraceS)) }

    enum Op: UInt16 {
        /// request: a piece of a file for the receiver to store (transfer key, sha256, size,
        /// offset, bytes); answers 1 once the receiver holds the whole file (at once if it had
        /// it), else 0. The key names the transfer (the hash for a copy of a stored file, the
        /// asset id for a copy made while the upload arrives, whose hash is known only with its
        /// last piece: earlier pieces carry an empty one).
        case put = 130
        /// request: bytes of a stored file (sha256, offset, length).
        case read = 131
    }

    let files: AssetFiles
    unowned let node: Node
    private var incoming: [String: Incoming] = [:]
    private var repairing: Set<String> = []
    /// Where repair goes on in each shard (the last hash looked at).
    private var repairCursor: [Int: String] = [:]
    private(set) var repaired = 0
    private(set) var collected = 0

    private struct Incoming {
        var writer: AssetWriter
        var size: Int64
        var lastMs: Int64
    }

    init(node: Node, dataDirectory: String) throws {
        self.node = node
        files = try AssetFiles(dataDirectory: dataDirectory, random: SystemRandom().bytes(6))
    }

    private var replicator: Replicator { node.cluster.replicator }
    private var peer: PeerTransport { node.cluster.peer }
    private var me: String { node.id }

    func start() {
        node.cluster.dispatch.assetRequests = { [unowned self] from, operation, payload, respond in
            self.request(from: from, operation: operation, payload: payload, respond: respond)
        }
        scheduleRepair()
        scheduleCollect()
    }

    /// The asset shard's replicas as this node sees them: primary first.
    func replicas(of assetID: String) -> [String] {
        let config = replicator.core.config(node.shardMap.shard(for: .asset(assetID)))
        var nodes: [String] = []
        for n in [config.primary] + config.isr where !n.isEmpty && !nodes.contains(n) { nodes.append(n) }
        return nodes
    }

    // MARK: Uploads

    /// Starts an upload of `size` bytes: a temporary file here, and a copy to each other replica
    /// of the asset's shard made as the bytes arrive (nil: no file could be created).
    func beginUpload(assetID: String, size: Int64) -> AssetUpload? {
        guard let writer = files.createTemporary() else { return nil }
        let targets = replicas(of: assetID).filter { $0 != me }
        return AssetUpload(store: self, assetID: assetID, size: size, writer: writer,
                           copies: targets.map { StreamedCopy(target: $0) })
    }

    /// Sends one piece of an upload to a replica as it arrives (see `AssetUpload`).
    fileprivate func send(_ bytes: [UInt8], of upload: AssetUpload, offset: Int64, sha: String, to copy: StreamedCopy) {
        var w = WireWriter()
        w.writeString(upload.assetID); w.writeString(sha); w.writeInt(upload.size); w.writeInt(offset); w.writeBytes(bytes)
        copy.inFlightBytes += bytes.count
        peer.request(copy.target, operation: Op.put.rawValue, payload: w.bytes, timeoutMs: 20_000) { result in
            copy.inFlightBytes -= bytes.count
            switch result {
            case .failure: copy.state = .failed
            case .success(let reply): if reply.first == 1 { copy.state = .stored }
            }
            upload.copyChanged()
        }
    }

    /// After an upload's last byte: syncs and installs the file here, waits for the copies made
    /// while it arrived, copies it to the replicas those did not cover, then registers the row.
    /// `done` answers the client.
    func finishUpload(_ upload: AssetUpload, contentType: String, uploader: String,
                      done: @escaping (Result<AssetMeta, ChatError>) -> Void) {
        let writer = upload.writer
        let meta = AssetMeta(assetID: upload.assetID, sha256: writer.digest(), size: writer.written, contentType: contentType,
                             uploader: uploader, createdAt: 0)
        let destination = files.path(meta.sha256)
        let started = node.loop.monotonicMs
        let submitted = node.workers.submit({ writer.install(at: destination) }) { [self] installed in
            guard installed else { return done(.failure(.unavailable("the asset could not be stored", retryAfterMs: 1_000))) }
            upload.whenCopiesSettle { [self] streamed in
                register(meta, streamed: streamed, startedMs: started, done: done)
            }
        }
        if !submitted {
            upload.abort()
            done(.failure(.unavailable("the node is busy", retryAfterMs: 1_000)))
        }
    }

    /// Copies the stored file to the replicas `streamed` does not cover, then registers the row.
    private func register(_ meta: AssetMeta, streamed: Set<String>, startedMs: Int64, done: @escaping (Result<AssetMeta, ChatError>) -> Void) {
        let synced = node.loop.monotonicMs
        replicate(sha: meta.sha256, size: meta.size, assetID: meta.assetID, round: 1, copied: streamed.union([me])) { [self] result in
            if case .failure(let error) = result { return done(.failure(error)) }
            let copied = node.loop.monotonicMs
            node.cluster.router.call(RegisterAsset(meta)) { [self] result in
                node.log.info("asset \(meta.assetID): \(meta.size) bytes synced and \(streamed.count) copies made as it arrived in "
                              + "\(synced - startedMs) ms, other copies in \(copied - synced) ms, registered in \(node.loop.monotonicMs - copied) ms")
                done(result.map { _ in meta })
            }
        }
    }

    /// Copies the file to every replica of the asset's shard that lacks it, then checks the
    /// replica set again (it may have changed meanwhile) until it is covered.
    private func replicate(sha: String, size: Int64, assetID: String, round: Int, copied: Set<String>,
                           done: @escaping (Result<Void, ChatError>) -> Void) {
        let targets = replicas(of: assetID)
        guard !targets.isEmpty else { return done(.failure(.unavailable("the asset's shard has no replicas yet", retryAfterMs: 1_000))) }
        let missing = targets.filter { !copied.contains($0) }
        if missing.isEmpty { return done(.success(())) }
        guard round <= Self.maxReplicationRounds else {
            return done(.failure(.unavailable("the asset's replicas could not be reached", retryAfterMs: 1_000)))
        }
        var pending = missing.count, failures: [String] = [], copied = copied
        for target in missing {
            push(sha: sha, size: size, to: target, offset: 0) { [self] ok in
                if ok { copied.insert(target) } else { failures.append(target) }
                pending -= 1
                guard pending == 0 else { return }
                if !failures.isEmpty { node.log.info("asset \(assetID): copy to \(failures.joined(separator: ",")) failed (round \(round))") }
                let retry = { self.replicate(sha: sha, size: size, assetID: assetID, round: round + 1, copied: copied, done: done) }
                if failures.isEmpty { retry() } else { _ = node.loop.schedule(afterMs: 500, retry) }
            }
        }
    }

    /// Pieces of one copy in flight at once: the link stays busy while the receiver writes;
    /// memory per copy is this many pieces.
    static let pushWindow = 4

    /// Sends the file to `target` in pieces, `pushWindow` at a time (a link delivers them in
    /// order, and the receiver refuses any out of order, so a lost one fails the copy).
    private func push(sha: String, size: Int64, to target: String, offset: Int64, done: @escaping (Bool) -> Void) {
        var next = offset, inFlight = 0, finished = false
        func finish(_ ok: Bool) {
            guard !finished else { return }
            finished = true
            done(ok)
        }
        func fill() {
            while !finished, inFlight < Self.pushWindow, next < size {
                let at = next, length = Int(min(Int64(Self.pieceBytes), size - at))
                guard let bytes = files.read(sha, offset: at, length: length), bytes.count == length else { return finish(false) }
                next += Int64(length)
                inFlight += 1
                var w = WireWriter()
                w.writeString(sha); w.writeString(sha); w.writeInt(size); w.writeInt(at); w.writeBytes(bytes)
                peer.request(target, operation: Op.put.rawValue, payload: w.bytes, timeoutMs: 20_000) { result in
                    inFlight -= 1
                    switch result {
                    case .failure: finish(false)
                    case .success(let reply):
                        if reply.first == 1 { return finish(true) }   // whole (or already there)
                        if next >= size && inFlight == 0 { return finish(false) }   // all sent, never completed
                        fill()
                    }
                }
            }
        }
        fill()
    }

    // MARK: Peer requests

    private func request(from: String, operation: UInt16, payload: [UInt8],
                         respond: @escaping (Result<[UInt8], PeerHandlerError>) -> Void) {
        do {
            var r = WireReader(payload)
            switch Op(rawValue: operation) {
            case .put:
                let key = try r.readText(), sha = try r.readText(), size = try r.readInt(), offset = try r.readInt()
                let bytes = try r.readBytes(maxBytes: Self.pieceBytes)
                receive(from: from, key: key, sha: sha, size: size, offset: offset, bytes: bytes, respond: respond)
            case .read:
                let sha = try r.readText(), offset = try r.readInt(), length = Int(try r.readU32())
                guard length <= Self.pieceBytes, offset >= 0, let bytes = files.read(sha, offset: offset, length: length) else {
                    return respond(.failure(PeerHandlerError("no asset file \(sha) here")))
                }
                respond(.success(bytes))
            case nil:
                respond(.failure(PeerHandlerError("unknown asset operation \(operation)")))
            }
        } catch {
            respond(.failure(PeerHandlerError("bad asset request: \(error)")))
        }
    }

    private func receive(from: String, key transfer: String, sha: String, size: Int64, offset: Int64, bytes: [UInt8],
                         respond: @escaping (Result<[UInt8], PeerHandlerError>) -> Void) {
        guard !transfer.isEmpty, transfer.utf8.count <= 80, size > 0 else { return respond(.failure(PeerHandlerError("bad asset transfer"))) }
        let key = from + "/" + transfer
        if offset == 0 {
            if AssetFiles.isValidName(sha), files.has(sha, size: size) { return respond(.success([1])) }
            incoming.removeValue(forKey: key)?.writer.discard()
            guard let writer = files.createTemporary() else { return respond(.failure(PeerHandlerError("cannot create a file"))) }
            incoming[key] = Incoming(writer: writer, size: size, lastMs: node.loop.monotonicMs)
            expireIncoming()
        }
        guard var entry = incoming[key], entry.size == size, entry.writer.written == offset,
              offset + Int64(bytes.count) <= size else {
            return respond(.failure(PeerHandlerError("asset piece out of order")))
        }
        entry.writer.append(bytes)
        entry.lastMs = node.loop.monotonicMs
        incoming[key] = entry
        guard entry.writer.written == size else { return respond(.success([0])) }
        incoming[key] = nil
        let writer = entry.writer
        guard AssetFiles.isValidName(sha), writer.digest() == sha else {
            writer.discard()
            return respond(.failure(PeerHandlerError("asset \(sha): the bytes do not match their hash")))
        }
        let destination = files.path(sha)
        let submitted = node.workers.submit({ writer.install(at: destination) }) { installed in
            respond(installed ? .success([1]) : .failure(PeerHandlerError("asset \(sha) could not be stored")))
        }
        if !submitted {
            writer.discard()
            respond(.failure(PeerHandlerError("busy")))
        }
    }

    private func expireIncoming() {
        let now = node.loop.monotonicMs
        for (key, entry) in incoming where now - entry.lastMs > Self.incomingTimeoutMs {
            entry.writer.discard()
            incoming[key] = nil
        }
    }

    // MARK: Reading, here or from a replica

    /// Delivers up to `length` bytes at `offset` of the file: from disk when it is here, else
    /// from the asset shard's replicas in turn (nil when none has it).
    func read(_ meta: AssetMeta, offset: Int64, length: Int, deliver: @escaping ([UInt8]?) -> Void) {
        if files.has(meta.sha256, size: meta.size) { return deliver(files.read(meta.sha256, offset: offset, length: length)) }
        readRemote(meta.sha256, offset: offset, length: length, from: replicas(of: meta.assetID).filter { $0 != me }[...], deliver: deliver)
    }

    private func readRemote(_ sha: String, offset: Int64, length: Int, from nodes: ArraySlice<String>, deliver: @escaping ([UInt8]?) -> Void) {
        guard let target = nodes.first else { return deliver(nil) }
        var w = WireWriter()
        w.writeString(sha); w.writeInt(offset); w.writeU32(UInt32(length))
        peer.request(target, operation: Op.read.rawValue, payload: w.bytes, timeoutMs: 10_000) { [self] result in
            if case .success(let bytes) = result, bytes.count == length { return deliver(bytes) }
            readRemote(sha, offset: offset, length: length, from: nodes.dropFirst(), deliver: deliver)
        }
    }

    // MARK: Repair and collection

    /// Shards whose rows this node holds (as primary or in-sync follower).
    private func heldShards() -> [Int] {
        return node.files.shardsOnDisk().filter { shard in
            let config = replicator.core.config(shard)
            return config.primary == me || config.isr.contains(me)
        }
    }

    private func scheduleRepair() {
        _ = node.loop.schedule(afterMs: Self.repairIntervalMs) { [weak self] in
            guard let self else { return }
            repairRound()
            scheduleRepair()
        }
    }

    /// Fetches files this node's asset rows name but its disk lacks, a few at a time.
    private func repairRound() {
        for shard in heldShards() where repairing.count < Self.maxConcurrentRepairs {
            guard let store = try? node.files.store(shard),
                  let rows = try? store.assetFiles(after: repairCursor[shard] ?? "", limit: Self.repairRowsPerShard) else { continue }
            repairCursor[shard] = rows.count < Self.repairRowsPerShard ? "" : rows.last?.sha256
            let others = { () -> [String] in
                let config = self.replicator.core.config(shard)
                return ([config.primary] + config.isr).filter { !$0.isEmpty && $0 != self.me }
            }()
            for row in rows where !files.has(row.sha256, size: row.size) && !repairing.contains(row.sha256) {
                guard repairing.count < Self.maxConcurrentRepairs else { break }
                repairing.insert(row.sha256)
                guard let writer = files.createTemporary() else { repairing.remove(row.sha256); break }
                fetch(row.sha256, size: row.size, into: writer, from: others[...]) { [self] ok in
                    repairing.remove(row.sha256)
                    if ok { repaired += 1; node.log.info("asset file \(row.sha256) repaired") }
                }
            }
        }
    }

    private func fetch(_ sha: String, size: Int64, into writer: AssetWriter, from nodes: ArraySlice<String>, done: @escaping (Bool) -> Void) {
        let offset = writer.written
        if offset == size {
            guard writer.digest() == sha else { writer.discard(); return done(false) }
            let destination = files.path(sha)
            let submitted = node.workers.submit({ writer.install(at: destination) }) { done($0) }
            if !submitted { writer.discard(); done(false) }
            return
        }
        let length = Int(min(Int64(Self.pieceBytes), size - offset))
        readRemote(sha, offset: offset, length: length, from: nodes) { [self] bytes in
            guard let bytes else { writer.discard(); return done(false) }
            writer.append(bytes)
            guard !writer.failed else { writer.discard(); return done(false) }
            fetch(sha, size: size, into: writer, from: nodes, done: done)
        }
    }

    private func scheduleCollect() {
        _ = node.loop.schedule(afterMs: collectIntervalMs) { [weak self] in
            guard let self else { return }
            collectRound()
            scheduleCollect()
        }
    }

    /// Rows: each shard this node leads deletes assets nothing carries, older than the grace
    /// (`asset_grace_s`). Files: a file no row of any shard on this disk names, older than
    /// `collectMinAgeS`, is deleted.
    private func collectRound() {
        let before = node.loop.nowMs - node.config.assetGraceS * 1_000
        for shard in node.files.shardsOnDisk() where replicator.serves(shard) {
            _ = try? node.files.store(shard).pruneUnreferencedAssets(olderThan: before, limit: AssetLimits.prunePerRound)
        }
        let shards = node.files.shardsOnDisk()
        for file in files.storedFiles() where file.ageS > collectMinAgeS {
            let named = shards.contains { shard in (try? node.files.store(shard).hasAssetFile(sha256: file.sha256)) ?? true }
            if !named {
                files.remove(file.sha256)
                collected += 1
            }
        }
    }
}

/// One replica's copy of an upload, made as the upload arrives.
final class StreamedCopy {
    enum State { case sending, stored, failed }
    let target: String
    var state = State.sending
    var inFlightBytes = 0
    init(target: String) { self.target = target }
}

/// An upload under way: its temporary file and its copies to the other replicas, each piece
/// sent on as it is written here. The copies' unanswered bytes are bounded
/// (`maxCopyLagBytes`): past it the client's body waits (TCP slows the client). A copy that
/// fails is dropped; `finishUpload` makes it again from the stored file.
final class AssetUpload {
    /// Unanswered bytes of one copy before the upload waits for it: four pieces in flight.
    static let maxCopyLagBytes = AssetStore.pushWindow * AssetStore.pieceBytes

    unowned let store: AssetStore
    let assetID: String
    let size: Int64
    let writer: AssetWriter
    let copies: [StreamedCopy]
    /// Pauses (true) or resumes the client's body.
    var setPaused: ((Bool) -> Void)?
    private var settled: ((Set<String>) -> Void)?

    init(store: AssetStore, assetID: String, size: Int64, writer: AssetWriter, copies: [StreamedCopy]) {
        self.store = store
        self.assetID = assetID
        self.size = size
        self.writer = writer
        self.copies = copies
    }

    /// A piece of the body: written and hashed here, then sent to every copy still going (the
    /// last piece with the hash, which the replica checks before it keeps the file).
    func append(_ bytes: [UInt8]) {
        let offset = writer.written
        writer.append(bytes)
        guard !writer.failed else { return }
        let sha = writer.written == size ? writer.digest() : ""
        for copy in copies where copy.state == .sending { store.send(bytes, of: self, offset: offset, sha: sha, to: copy) }
        copyChanged()
    }

    /// The client left: the copies stop (the replicas drop their partial files on a timeout).
    func abort() {
        for copy in copies where copy.state == .sending { copy.state = .failed }
        writer.discard()
    }

    func copyChanged() {
        setPaused?(copies.contains { $0.state == .sending && $0.inFlightBytes >= Self.maxCopyLagBytes })
        if let settled, !copies.contains(where: { $0.state == .sending && $0.inFlightBytes > 0 }) {
            self.settled = nil
            for copy in copies where copy.state == .sending { copy.state = .failed }   // never completed
            settled(Set(copies.filter { $0.state == .stored }.map(\.target)))
        }
    }

    /// Calls `done` with the replicas that hold the file once every copy has stored it or
    /// failed.
    func whenCopiesSettle(_ done: @escaping (Set<String>) -> Void) {
        settled = done
        copyChanged()
    }
}
