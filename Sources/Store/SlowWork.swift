/// Where `ShardFiles` runs its slow disk work (creating and migrating shard files, making,
/// reading, writing and fsyncing snapshots): off the event loop, with the result back on the
/// loop. The node gives it its worker pool; tests and the simulation run the work inline.
public protocol SlowWorkRunner: AnyObject {
    /// Runs `work` (on another thread, or at once), then `done(result)` on the loop thread.
    /// Returns false, and never calls `done`, when it takes no more work (a full queue).
    @discardableResult
    func run<T: Sendable>(_ work: @escaping @Sendable () -> T, done: @escaping (T) -> Void) -> Bool
}

/// Runs the work at once on the calling thread, `done` before `run` returns: for tests, tools
/// and the in-memory backend (a simulation's single thread).
public final class InlineWork: SlowWorkRunner {
    public init() {}

    @discardableResult
    public func run<T: Sendable>(_ work: @escaping @Sendable () -> T, done: @escaping (T) -> Void) -> Bool {
        done(work())
        return true
    }
}

/// A value made on a worker thread and handed to the loop, which alone uses it from then on
/// (an opened `ShardStore`: SQLite allows a connection to change threads between uses).
struct HandOver<Value>: @unchecked Sendable {
    let value: Value
}
