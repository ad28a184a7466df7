import Store

/// Drives the outbox jobs of the shards this node leads (see `OutboxJob`): one step at a
/// time per job, each step's progress saved on the job's shard before the next, a failed step
/// retried with backoff from the same progress. When the node stops leading a shard its jobs
/// stop here (a step in flight is ignored when it ends) and the new primary resumes them.
public final class OutboxRunner {
    /// Jobs driven at once on this node; more wait in `queued`, oldest first.
    static let maxRunning = 1_000
    /// Jobs waiting for a slot. Past it a job is not queued; the shard's next rescan (every
    /// `rescanMs` while some were left out) finds it again in the outbox.
    static let maxQueued = 100_000
    static let rescanMs: Int64 = 5_000
    /// A failed step runs again after this, doubling per failure up to the max.
    static let retryMinMs: Int64 = 200
    static let retryMaxMs: Int64 = 30_000

    private struct Running {
        var shard: Int
        /// Raised when the job is stopped: a step that ends under an older one is ignored.
        var generation: UInt64
        var failures = 0
        /// A failed step waits for its retry timer.
        var backingOff = false
        var waiters: [(Result<Void, ChatError>) -> Void] = []
    }

    unowned let service: ShardService
    let router: ShardRouter
    let clock: () -> Int64
    let schedule: (Int64, @escaping () -> Void) -> Void
    private var running: [String: Running] = [:]
    private var queued: [(shard: Int, id: String)] = []
    private var nextGeneration: UInt64 = 1
    private var rescanning: Set<Int> = []
    public private(set) var stepsRun = 0
    public private(set) var jobsFinished = 0

    init(service: ShardService, router: ShardRouter, clock: @escaping () -> Int64,
         schedule: @escaping (Int64, @escaping () -> Void) -> Void) {
        self.service = service
        self.router = router
        self.clock = clock
        self.schedule = schedule
    }

    public var runningCount: Int { running.count }

    /// Starts the job if it is not running yet.
    func start(shard: Int, jobID: String) {
        guard running[jobID] == nil else { return }
        guard running.count < Self.maxRunning else {
            if queued.count < Self.maxQueued { queued.append((shard, jobID)) } else { rescanLater(shard) }
            return
        }
        let generation = nextGeneration
        nextGeneration += 1
        running[jobID] = Running(shard: shard, generation: generation)
        runStep(jobID, generation: generation)
    }

    /// `done` runs when the job finishes, or with the error of its next failed step; at once
    /// if the job is not in the outbox (already finished). Someone waiting is a reason to try
    /// again now: a job backing off after a failure runs its step at once (the older retry
    /// timer is then ignored).
    func whenDone(shard: Int, _ jobID: String, done: @escaping (Result<Void, ChatError>) -> Void) {
        start(shard: shard, jobID: jobID)
        guard var job = running[jobID] else {
            if queued.contains(where: { $0.id == jobID }) {
                return done(.failure(.unavailable("the node is busy with other jobs", retryAfterMs: 1_000)))
            }
            return done(.success(()))
        }
        job.waiters.append(done)
        let retryNow = job.backingOff
        if retryNow {
            job.backingOff = false
            job.generation = nextGeneration
            nextGeneration += 1
        }
        running[jobID] = job
        if retryNow { runStep(jobID, generation: job.generation) }
    }

    /// This node leads the shard now: every job in its outbox is driven from here.
    func resume(shard: Int) {
        guard let store = try? service.files.store(shard), let ids = try? store.jobIDs() else { return }
        for id in ids { start(shard: shard, jobID: id) }
    }

    /// This node stopped leading the shard: its jobs stop (the new primary resumes them).
    func stop(shard: Int) {
        for id in running.keys.sorted() {
            guard let job = running[id], job.shard == shard else { continue }
            running[id] = nil
            for waiter in job.waiters { waiter(.failure(.unavailable("shard \(shard) changed primary; retry", retryAfterMs: 0))) }
        }
        queued.removeAll { $0.shard == shard }
        startQueued()
    }

    // MARK: Steps

    private func runStep(_ id: String, generation: UInt64) {
        guard let job = running[id], job.generation == generation else { return }
        let shard = job.shard
        // Not served here right now (a lapsed lease, a shard still opening): try again later.
        // A node that stops leading the shard stops its jobs (`stop`); the new primary resumes them.
        let record: JobRecord?
        do {
            guard service.gate?.serves(shard) ?? true else { throw ChatError.unavailable("shard \(shard) is not served here now") }
            record = try service.files.store(shard).job(id)
        } catch {
            return retry(id, generation: generation, error as? ChatError ?? .unavailable("shard \(shard): \(error)"))
        }
        // Gone from the outbox: another run finished it.
        guard let record else { return end(id, .success(())) }
        guard let kind = JobKind(rawValue: record.kind), let origin = ShardKey(text: record.origin),
              let work = try? kind.type.init(payload: record.payload) else {
            // A kind this version does not know (written by a newer one): left for it.
            return end(id, .failure(.unavailable("job \(id) of kind \(record.kind) cannot run on this node")))
        }
        stepsRun += 1
        work.step(progress: record.progress, context: JobContext(router: router, now: clock(), online: service.online,
                                                                   hook: service.notificationHook)) { [weak self] step in
            self?.stepEnded(id, generation: generation, origin: origin, step)
        }
    }

    private func stepEnded(_ id: String, generation: UInt64, origin: ShardKey, _ step: JobStep) {
        guard running[id]?.generation == generation else { return }
        let change: SaveJobProgress.Change
        switch step {
        case .failed(let error): return retry(id, generation: generation, error)
        case .progressed(let progress): change = .progress(progress)
        case .finished: change = .finished
        }
        // Saved through this node's own service: the runner runs only where the shard is led.
        service.handle(SaveJobProgress(origin: origin, jobID: id, change: change)) { [weak self] result in
            guard let self, running[id]?.generation == generation else { return }
            switch (result, change) {
            case (.failure(let error), _): retry(id, generation: generation, error)
            case (.success, .finished):
                jobsFinished += 1
                end(id, .success(()))
            case (.success, .progress):
                running[id]?.failures = 0
                runStep(id, generation: generation)
            }
        }
    }

    private func retry(_ id: String, generation: UInt64, _ error: ChatError) {
        guard var job = running[id] else { return }
        let waiters = job.waiters
        job.waiters = []
        job.failures += 1
        job.backingOff = true
        running[id] = job
        let delay = min(Self.retryMaxMs, Self.retryMinMs << min(job.failures - 1, 20))
        schedule(delay) { [weak self] in
            guard let self, running[id]?.generation == generation else { return }
            running[id]?.backingOff = false
            runStep(id, generation: generation)
        }
        for waiter in waiters { waiter(.failure(error)) }
    }

    private func end(_ id: String, _ result: Result<Void, ChatError>) {
        guard let job = running.removeValue(forKey: id) else { return }
        for waiter in job.waiters { waiter(result) }
        startQueued()
    }

    private func startQueued() {
        let room = Self.maxRunning - running.count
        guard room > 0, !queued.isEmpty else { return }
        let next = queued.prefix(room)
        queued.removeFirst(next.count)
        for item in next { start(shard: item.shard, jobID: item.id) }
    }

    private func rescanLater(_ shard: Int) {
        guard rescanning.insert(shard).inserted else { return }
        schedule(Self.rescanMs) { [weak self] in
            guard let self else { return }
            rescanning.remove(shard)
            if service.gate?.serves(shard) ?? true { resume(shard: shard) }
        }
    }
}
