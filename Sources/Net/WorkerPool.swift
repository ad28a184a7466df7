import Foundation

/// A few threads for slow CPU work (password hashing: tens of milliseconds each) that must
/// not run on the loop. Results come back on the loop thread through `EventLoop.execute`.
/// `submit` and `shutdown` are called on the loop thread.
public final class WorkerPool {
    /// Jobs waiting for a thread. Beyond it `submit` refuses: a login storm then gets "busy"
    /// answers instead of unbounded memory and minutes of queueing. At ~50 ms per yescrypt
    /// hash on 2 threads, 1,000 jobs is already ~25 s of work.
    public static let defaultMaxQueuedJobs = 1_000

    private let loop: EventLoop
    private let jobs: JobQueue

    public init(threads: Int, loop: EventLoop, maxQueuedJobs: Int = WorkerPool.defaultMaxQueuedJobs) {
        self.loop = loop
        jobs = JobQueue(maxQueued: maxQueuedJobs)
        for index in 0..<max(1, threads) {
            let thread = Thread { [jobs] in jobs.runWorker() }
            thread.name = "relay-worker-\(index)"
            thread.start()
        }
    }

    deinit {
        jobs.close()
    }

    /// Runs `work` on a worker thread, then `done(result)` on the loop thread. Returns false
    /// (and never calls `done`) when the queue is full or the pool was shut down.
    @discardableResult
    public func submit<T: Sendable>(_ work: @escaping @Sendable () -> T, done: @escaping (T) -> Void) -> Bool {
        let loop = self.loop
        let callback = LoopBound(done, loop: loop)
        return jobs.push {
            let result = work()
            loop.execute { callback.value(result) }
        }
    }

    /// Jobs waiting for a thread (not counting those running).
    public var queuedJobs: Int { jobs.count }

    /// Refuses new work; queued jobs still run and report; threads exit once the queue is
    /// empty. Does not block the loop waiting for them.
    public func shutdown() {
        jobs.close()
    }
}

/// The workers' job queue. `@unchecked Sendable`: shared by the loop thread and the workers
/// by design; every mutable field is guarded by `condition`'s lock.
final class JobQueue: @unchecked Sendable {
    typealias Job = @Sendable () -> Void

    private let condition = NSCondition()
    private let maxQueued: Int
    private var jobs: [Job] = []
    private var head = 0
    private var closed = false

    init(maxQueued: Int) {
        self.maxQueued = maxQueued
    }

    var count: Int {
        condition.lock()
        defer { condition.unlock() }
        return jobs.count - head
    }

    func push(_ job: @escaping Job) -> Bool {
        condition.lock()
        defer { condition.unlock() }
        guard !closed, jobs.count - head < maxQueued else { return false }
        jobs.append(job)
        condition.signal()
        return true
    }

    func close() {
        condition.lock()
        closed = true
        condition.broadcast()
        condition.unlock()
    }

    /// A worker thread's body: runs jobs until closed and empty.
    func runWorker() {
        while let job = next() { job() }
    }

    private func next() -> Job? {
        condition.lock()
        defer { condition.unlock() }
        while head == jobs.count, !closed { condition.wait() }
        guard head < jobs.count else { return nil }
        let job = jobs[head]
        head += 1
        if head == jobs.count {
            jobs.removeAll(keepingCapacity: true)
            head = 0
        } else if head >= 64, head * 2 >= jobs.count {
            jobs.removeFirst(head)
            head = 0
        }
        return job
    }
}
