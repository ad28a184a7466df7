/// Carries a loop-thread-only value (a non-Sendable callback) through a `@Sendable` closure
/// that leaves the loop thread and comes back through `EventLoop.execute`.
///
/// `@unchecked Sendable`: the value is only ever read on the loop thread, which `value`
/// checks; other threads merely hold the box.
public struct LoopBound<Value>: @unchecked Sendable {
    private let wrapped: Value
    private let loop: EventLoop

    public init(_ value: Value, loop: EventLoop) {
        wrapped = value
        self.loop = loop
    }

    public var value: Value {
        precondition(loop.inLoopThread, "LoopBound value read off the loop thread")
        return wrapped
    }
}
