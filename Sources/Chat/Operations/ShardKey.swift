import Ring

/// What a shard request is about: the key whose shard serves it (DESIGN.md "Sharding"). A
/// user's shard holds the account, sessions, profile, blocks, lists, wallet and the user's
/// conversation index; a conversation's shard holds its members, messages and cursors.
public enum ShardKey: Hashable, Sendable, CustomStringConvertible {
    case user(String)
    case conversation(String)
    /// An asset's row and the refs to it (Assets.swift).
    case asset(String)

    /// The text that is hashed onto the ring: `user:ID`, `conv:ID`.
    public var description: String {
        switch self {
        case .user(let id): return "user:" + id
        case .conversation(let id): return "conv:" + id
        case .asset(let id): return "asset:" + id
        }
    }
}

extension ShardMap {
    public func shard(for key: ShardKey) -> Int { shard(forKey: key.description) }
}

extension ShardKey {
    /// The key a text names (`user:ID`, `conv:ID`), nil for any other text.
    public init?(text: String) {
        if text.hasPrefix("user:") {
            self = .user(String(text.dropFirst(5)))
        } else if text.hasPrefix("conv:") {
            self = .conversation(String(text.dropFirst(5)))
        } else if text.hasPrefix("asset:") {
            self = .asset(String(text.dropFirst(6)))
        } else {
            return nil
        }
    }
}
