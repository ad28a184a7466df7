import CSystem
import Glibc

/// Something registered with the loop's epoll instance. Called on the loop thread only.
protocol LoopHandler: AnyObject {
    func handle(events: UInt32)
    /// `EventLoop.shutdown`: close now, report to the owner as usual.
    func closeForShutdown()
}

/// One epoll loop per node: it owns every socket, the timers, the turn-end hooks and the
/// queue of jobs posted from other threads.
///
/// **Level-triggered epoll.** A connection may stop reading before EAGAIN (the per-turn read
/// cap, or `pauseReading`); level-triggered epoll simply reports it again next turn, where
/// edge-triggered would need our own "still readable" list to avoid losing the edge.
/// Interest masks are kept exact instead: EPOLLIN only while a socket wants to read, EPOLLOUT
/// only while its write queue is non-empty, so no idle socket is ever reported.
///
/// **A turn:** `epoll_wait` (the only place the loop blocks, with a timeout from the next
/// timer deadline) → handle ready sockets → due timers → jobs from `execute` → turn-end hooks.
/// Callbacks deferred by sockets (`onClose`) run between phases of the same turn.
///
/// **Ownership.** While a socket is open, the loop holds it strongly in `handlers`, keyed by
/// a registration token carried in `epoll_data` (never reused, so a stale event for a closed
/// fd that the kernel reused is ignored). Sockets hold the loop weakly. Closing a socket
/// removes it from `handlers`, closes its fd and clears its callbacks, so closures that
/// captured the socket no longer keep it alive: a closed connection is freed once the caller
/// drops it.
///
/// **Threads.** Everything here is for the loop thread (the one inside `run`, or the one that
/// will call `run`) except `execute`, `stop` and `inLoopThread`.
///
/// `@unchecked Sendable`: `execute` and `stop` are called from other threads (worker pool,
/// signal watcher, tests). They only touch `inbox`, which is lock-protected; every other
/// member is used on the loop thread only.
public final class EventLoop: @unchecked Sendable {
    /// Events taken from the kernel per `epoll_wait`; more stay ready for the next turn.
    static let maxEventsPerWait = 256
    /// One read buffer shared by all sockets of the loop: 64 KiB is the largest UDP datagram
    /// and several TCP segments' worth, and bytes handed to `onRead` are valid only during
    /// the call, so one buffer serves every connection in turn.
    static let readBufferBytes = 64 * 1024
    /// Cancelled timers are dropped lazily; the heap is rebuilt when it holds more than
    /// twice the live timers plus this slack, bounding its garbage.
    static let timerHeapSlack = 1_024

    let readBuffer: UnsafeMutableRawBufferPointer
    private let epollFD: Int32
    private let inbox: LoopInbox
    private let events: UnsafeMutablePointer<epoll_event>
    private static let wakeToken: UInt64 = 0

    private var handlers: [UInt64: any LoopHandler] = [:]
    private var nextToken: UInt64 = 1
    private var timers = TimerHeap()
    private var timerCallbacks: [UInt64: () -> Void] = [:]
    private var nextTimerID: UInt64 = 1
    private var turnEndHooks: [() -> Void] = []
    private var deferred: [() -> Void] = []
    /// Counts loop turns: work that is budgeted per turn (client requests) compares it to
    /// know when a new turn began.
    public private(set) var turn: UInt64 = 0

    public init() throws(NetError) {
        let fd = epoll_create1(Int32(EPOLL_CLOEXEC))
        guard fd >= 0 else { throw NetError.last("epoll_create1") }
        do {
            inbox = try LoopInbox()
        } catch {
            Glibc.close(fd)
            throw error
        }
        epollFD = fd
        events = .allocate(capacity: Self.maxEventsPerWait)
        readBuffer = .allocate(byteCount: Self.readBufferBytes, alignment: 16)
        var event = epoll_event()
        event.events = EPOLLIN.rawValue
        event.data.u64 = Self.wakeToken
        guard epoll_ctl(epollFD, EPOLL_CTL_ADD, inbox.wakeFD, &event) == 0 else {
            let error = NetError.last("epoll_ctl add eventfd")
            Glibc.close(fd)
            events.deallocate()
            readBuffer.deallocate()
            throw error
        }
    }

    deinit {
        // Sockets still registered are released with `handlers`; each closes its own fd.
        Glibc.close(epollFD)
        events.deallocate()
        readBuffer.deallocate()
    }

    // MARK: Running

    /// Runs turns until `stop()`. The calling thread becomes the loop thread.
    public func run() {
        inbox.enterLoop()
        defer { inbox.leaveLoop() }
        while !inbox.isStopRequested {
            runTurn()
        }
    }

    /// From the loop thread or any other: the loop finishes its current turn and `run` returns.
    public func stop() {
        inbox.requestStop()
    }

    /// Closes every socket still registered (connections report `onClose(nil)`, pending
    /// connects fail with ECANCELED), cancels all timers, and drops the turn-end hooks and
    /// queued jobs. Call on the loop thread, typically after `run` returned. Open sockets'
    /// callbacks usually capture the loop, a cycle only closing breaks: shut down a loop you
    /// want freed.
    public func shutdown() {
        let open = handlers.sorted { $0.key < $1.key }.map(\.value)
        for handler in open { handler.closeForShutdown() }
        runDeferred()
        handlers.removeAll()
        timers = TimerHeap()
        timerCallbacks.removeAll()
        turnEndHooks.removeAll()
        deferred.removeAll()
        _ = inbox.takeJobs()
    }

    /// True when called on the thread currently inside `run()`.
    public var inLoopThread: Bool { inbox.isLoopThread }

    /// Wall clock, milliseconds since the Unix epoch. Read live (a vDSO call, tens of ns).
    public var nowMs: Int64 { Self.clockMs(CLOCK_REALTIME) }

    /// CLOCK_MONOTONIC milliseconds: for durations and deadlines, never steps backwards.
    public var monotonicMs: Int64 { Self.clockMs(CLOCK_MONOTONIC) }

    /// CLOCK_MONOTONIC nanoseconds: for budgets of a few milliseconds.
    public var monotonicNanos: UInt64 {
        var spec = timespec()
        clock_gettime(CLOCK_MONOTONIC, &spec)
        return UInt64(spec.tv_sec) * 1_000_000_000 + UInt64(spec.tv_nsec)
    }

    private static func clockMs(_ clock: clockid_t) -> Int64 {
        var spec = timespec()
        clock_gettime(clock, &spec)
        return Int64(spec.tv_sec) * 1_000 + Int64(spec.tv_nsec) / 1_000_000
    }

    private func runTurn() {
        turn &+= 1
        let ready = epoll_wait(epollFD, events, Int32(Self.maxEventsPerWait), waitTimeoutMs())
        if ready < 0 {
            let code = Glibc.errno
            // EINTR: a signal arrived (the terminate handler); anything else is a broken
            // epoll fd, a programming error.
            precondition(code == EINTR, "epoll_wait failed: errno \(code)")
        }
        for index in 0..<max(0, Int(ready)) {
            let event = events[index]
            if event.data.u64 == Self.wakeToken {
                inbox.drainWakeFD()
                continue
            }
            // Holding the handler here keeps it alive even if it closes itself.
            guard let handler = handlers[event.data.u64] else { continue }
            handler.handle(events: event.events)
        }
        runDeferred()
        runDueTimers()
        runDeferred()
        for job in inbox.takeJobs() { job() }
        runDeferred()
        for hook in turnEndHooks { hook() }
    }

    private func waitTimeoutMs() -> Int32 {
        if !deferred.isEmpty { return 0 }
        while let top = timers.first, timerCallbacks[top.id] == nil {
            timers.popFirst()
        }
        guard let next = timers.first else { return -1 }
        let wait = next.deadlineMs - monotonicMs
        return Int32(clamping: max(0, wait))
    }

    // MARK: Timers

    /// Runs `fn` on the loop thread once `afterMs` milliseconds have passed (monotonic clock,
    /// never early, typically within 1 ms late). Timers with equal deadlines fire in the order
    /// they were scheduled. A timer scheduled by a timer runs in a later turn.
    @discardableResult
    public func schedule(afterMs: Int64, _ fn: @escaping () -> Void) -> TimerID {
        let id = nextTimerID
        nextTimerID += 1
        let deadline = monotonicMs + max(0, afterMs)
        timers.push(.init(deadlineMs: deadline, id: id))
        timerCallbacks[id] = fn
        return TimerID(raw: id)
    }

    /// Cancels a timer that has not fired yet; a no-op otherwise.
    public func cancel(_ timer: TimerID) {
        guard timerCallbacks.removeValue(forKey: timer.raw) != nil else { return }
        if timers.count > 2 * timerCallbacks.count + Self.timerHeapSlack {
            timers.retain { timerCallbacks[$0.id] != nil }
        }
    }

    private func runDueTimers() {
        let firstNotYetScheduled = nextTimerID
        let now = monotonicMs
        while let top = timers.first, top.deadlineMs <= now, top.id < firstNotYetScheduled {
            timers.popFirst()
            if let fn = timerCallbacks.removeValue(forKey: top.id) { fn() }
        }
    }

    // MARK: Hooks and jobs

    /// Called once per loop turn after all ready events, timers and jobs were handled, before
    /// waiting again: the hook for group commit (one SQLite transaction per loop turn).
    public func addTurnEndHook(_ fn: @escaping () -> Void) {
        turnEndHooks.append(fn)
    }

    /// Thread-safe: runs `fn` on the loop thread soon (eventfd wake-up), in posting order.
    public func execute(_ fn: @escaping @Sendable () -> Void) {
        inbox.post(fn)
    }

    /// Loop thread: runs `fn` later in this turn, outside the caller's stack. Sockets use it
    /// so that `onClose` never re-enters the code that called `write` or `close`.
    func deferOnLoop(_ fn: @escaping () -> Void) {
        deferred.append(fn)
    }

    private func runDeferred() {
        // Only what is queued now: a callback that defers more work leaves it to the next
        // phase or turn (with a zero wait), so one turn cannot spin forever.
        let batch = deferred
        deferred.removeAll(keepingCapacity: true)
        for fn in batch { fn() }
    }

    // MARK: Registration (loop thread)

    func register(fd: Int32, events mask: UInt32, handler: any LoopHandler) throws(NetError) -> UInt64 {
        let token = nextToken
        nextToken += 1
        var event = epoll_event()
        event.events = mask
        event.data.u64 = token
        guard epoll_ctl(epollFD, EPOLL_CTL_ADD, fd, &event) == 0 else { throw NetError.last("epoll_ctl add") }
        handlers[token] = handler
        return token
    }

    func modify(fd: Int32, token: UInt64, events mask: UInt32) -> NetError? {
        var event = epoll_event()
        event.events = mask
        event.data.u64 = token
        guard epoll_ctl(epollFD, EPOLL_CTL_MOD, fd, &event) == 0 else { return NetError.last("epoll_ctl mod") }
        return nil
    }

    /// Forgets the handler; the caller closes the fd right after (which also removes it from
    /// the epoll set, but an explicit DEL keeps the set exact if the fd was dup'ed).
    func deregister(fd: Int32, token: UInt64) {
        _ = epoll_ctl(epollFD, EPOLL_CTL_DEL, fd, nil)
        handlers.removeValue(forKey: token)
    }

    /// Open sockets registered with the loop (for tests and metrics).
    public var registeredSocketCount: Int { handlers.count }
}

/// epoll event bits as the `UInt32` masks `epoll_event.events` holds.
enum EpollBits {
    static let readable = EPOLLIN.rawValue
    static let writable = EPOLLOUT.rawValue
    static let error = EPOLLERR.rawValue
    static let hangUp = EPOLLHUP.rawValue
}
