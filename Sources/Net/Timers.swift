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
