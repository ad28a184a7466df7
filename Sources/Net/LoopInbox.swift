import CSystem
import Foundation
import Glibc

/// The only part of an `EventLoop` that other threads touch: a mutex-protected queue of jobs,
/// the stop request, the loop thread's identity, and an eventfd that wakes `epoll_wait`.
///
/// `@unchecked Sendable` because it is shared across threads by design: every mutable field
/// is read and written only while holding `lock`, and `wakeFD` never changes after init.
final class LoopInbox: @unchecked Sendable {
    typealias Job = @Sendable () -> Void

    let wakeFD: Int32
    private let lock = NSLock()
    private var jobs: [Job] = []
    private var wakePending = false
    private var stopRequested = false
    private var loopThread: pthread_t?

    init() throws(NetError) {
        let fd = eventfd(0, Int32(EFD_NONBLOCK) | Int32(EFD_CLOEXEC))
        guard fd >= 0 else { throw NetError.last("eventfd") }
        wakeFD = fd
    }

    deinit {
        Glibc.close(wakeFD)
    }

    /// Any thread. Queues the job and wakes the loop unless a wake-up is already pending, so a
    /// burst of posts costs one eventfd write.
    func post(_ job: @escaping Job) {
        lock.lock()
        jobs.append(job)
        let mustWake = !wakePending
        wakePending = true
        lock.unlock()
        if mustWake { wake() }
    }

    /// Any thread.
    func requestStop() {
        lock.lock()
        stopRequested = true
        lock.unlock()
        wake()
    }

    var isStopRequested: Bool {
        lock.lock()
        defer { lock.unlock() }
        return stopRequested
    }

    /// Loop thread, when the eventfd was reported readable: resets its counter. Must happen
    /// before `takeJobs`, so a post racing with this turn either is taken now or wakes the
    /// next `epoll_wait`.
    func drainWakeFD() {
        var counter: UInt64 = 0
        _ = Glibc.read(wakeFD, &counter, MemoryLayout<UInt64>.size)
    }

    /// Loop thread: takes every queued job (also used to drop them at shutdown).
    func takeJobs() -> [Job] {
        lock.lock()
        defer { lock.unlock() }
        let taken = jobs
        jobs.removeAll(keepingCapacity: true)
        wakePending = false
        return taken
    }

    func enterLoop() {
        lock.lock()
        loopThread = pthread_self()
        lock.unlock()
    }

    func leaveLoop() {
        lock.lock()
        loopThread = nil
        stopRequested = false
        lock.unlock()
    }

    var isLoopThread: Bool {
        lock.lock()
        defer { lock.unlock() }
        guard let loopThread else { return false }
        return pthread_equal(loopThread, pthread_self()) != 0
    }

    private func wake() {
        var one: UInt64 = 1
        // EAGAIN means the counter is already non-zero: the loop will wake anyway.
        _ = Glibc.write(wakeFD, &one, MemoryLayout<UInt64>.size)
    }
}
