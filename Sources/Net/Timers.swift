/// Time and timers as the node's shells use them (replication, routing, the outbox): the
/// node's `EventLoop`, or a simulation's clock and event queue, so the same shell code runs
/// in a node and in a simulated cluster.
public protocol Timers: AnyObject {
    /// Milliseconds that never go backwards: for durations and deadlines.
    var monotonicMs: Int64 { get }
    /// Wall-clock milliseconds since the Unix epoch: for timestamps.
    var nowMs: Int64 { get }
    /// Runs `fn` once `afterMs` have passed, on the same thread as the caller.
    @discardableResult
    func schedule(afterMs: Int64, _ fn: @escaping () -> Void) -> TimerID
    /// Cancels a timer that has not fired yet; a no-op otherwise.
    func cancel(_ timer: TimerID)
}

extension EventLoop: Timers {}

/// Slow work off the shell's thread, its result back on it: the node's `WorkerPool`, or a
/// simulation that runs the work at once and reports it later.
public protocol BackgroundWork: AnyObject {
    /// Runs `work` elsewhere, then `done(result)` on the caller's thread. False (and `done` is
    /// never called) when the work cannot be taken now.
    @discardableResult
    func submit<T: Sendable>(_ work: @escaping @Sendable () -> T, done: @escaping (T) -> Void) -> Bool
}

extension WorkerPool: BackgroundWork {}
