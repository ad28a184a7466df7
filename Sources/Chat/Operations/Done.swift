/// The reply of an operation that only needs to say it happened.
public struct Done: Sendable, Equatable {
    public init() {}
}
