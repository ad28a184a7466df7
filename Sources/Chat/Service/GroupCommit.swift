import Store

/// Group commit and reply holding (DESIGN.md "Shape of the code"): every write of a loop
/// turn joins its shard's open transaction; `commit` (once per turn) seals each dirty shard's
/// writes as its next log entry; a reply leaves only when everything it could have read is
/// committed and, in a cluster, held by the shard's replicas (`ReplicationGate.released`).
/// So no client is told of a write that can still be lost, and no reader sees one.
final class GroupCommit {
    struct Held {
        let shard: Int
        /// The log entry the reply waits for (set at commit).
        var lsn: Int64 = 0
        let deliver: () -> Void
        let fail: (ChatError) -> Void
    }

    /// Replies held at once, on every shard. Past it new requests are refused `unavailable`
    /// before they run: 100,000 is seconds of a node's full write rate, reached only when the
    /// replicas stopped answering, and bounds what a stalled replica costs in memory.
    static let maxHeld = 100_000

    private let files: ShardFiles
    weak var gate: ReplicationGate?
    /// Waiting for this turn's commit.
    private var pending: [Held] = []
    /// Committed here, waiting for the replicas, per shard in LSN order.
    private var waiting: [Int: [Held]] = [:]
    private(set) var waitingCount = 0

    init(files: ShardFiles) { self.files = files }

    var heldCount: Int { pending.count + waitingCount }
    var isFull: Bool { heldCount >= Self.maxHeld }
    var hasPending: Bool { !pending.isEmpty }

    /// Holds a reply until what `store` holds now is committed and released, or delivers it
    /// at once when nothing is outstanding.
    func hold(_ store: ShardStore, deliver: @escaping () -> Void, fail: @escaping (ChatError) -> Void) {
        if store.db.inTransaction {
            pending.append(Held(shard: store.shard, deliver: deliver, fail: fail))
        } else if let gate, gate.released(store.shard) < store.lastLSN {
            wait(Held(shard: store.shard, lsn: store.lastLSN, deliver: deliver, fail: fail))
        } else {
            deliver()
        }
    }

    private func wait(_ held: Held) {
        waiting[held.shard, default: []].append(held)
        waitingCount += 1
    }

    /// Commits every dirty shard, then releases (or holds for the replicas) the replies that
    /// waited for it. A failed commit fails its shard's replies `unavailable`: nothing of
    /// that turn was applied.
    func commit() {
        guard !pending.isEmpty || files.hasDirtyShards else { return }
        let gate = self.gate
        let result = files.commitAll(term: { gate?.term($0) ?? 1 })
        for (shard, entry) in result.entries { gate?.committed(shard: shard, lsn: entry.lsn) }
        let done = pending
        pending = []
        for var held in done {
            if result.failed[held.shard] != nil {
                held.fail(.unavailable("commit failed on shard \(held.shard)"))
            } else if let gate, let head = try? files.store(held.shard).lastLSN, gate.released(held.shard) < head {
                held.lsn = head
                wait(held)
            } else {
                held.deliver()
            }
        }
    }

    /// The replicas hold the shard's entries up to `lsn`: the replies waiting on them go.
    func release(shard: Int, through lsn: Int64) {
        guard let list = waiting[shard], let first = list.first, first.lsn <= lsn else { return }
        let ready = list.prefix { $0.lsn <= lsn }
        waiting[shard] = list.count == ready.count ? nil : Array(list.dropFirst(ready.count))
        waitingCount -= ready.count
        for held in ready { held.deliver() }
    }

    /// Drops the shard's open transaction and fails every reply held on it with `error`.
    func abandon(shard: Int, _ error: ChatError) {
        if files.isOpen(shard), let store = try? files.store(shard) { store.rollback() }
        let mine = pending.filter { $0.shard == shard }
        pending.removeAll { $0.shard == shard }
        let held = waiting.removeValue(forKey: shard) ?? []
        waitingCount -= held.count
        for h in mine { h.fail(error) }
        for h in held { h.fail(error) }
    }
}
