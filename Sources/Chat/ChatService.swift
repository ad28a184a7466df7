import Ring
import Store

/// An authenticated client: who, from which device, with which token.
public struct Session: Sendable, Equatable {
    public var user: String
    public var device: String
    public var tokenHash: [UInt8]
    public var expiresAt: Int64
}

public struct ChatSettings: Sendable {
    /// How long a token works: 30 days, the usual lifetime of a mobile session.
    public var tokenLifetimeMs: Int64 = 30 * 24 * 3600 * 1000
    /// Passwords shorter are refused (PROTOCOL.md). The max keeps one request from buying an
    /// arbitrarily long hash and stays under libxcrypt's 512-byte passphrase limit.
    public static let minPasswordBytes = 8
    public static let maxPasswordBytes = 256
    public static let maxDisplayNameBytes = 64
    /// Login throttling's rules and bounds (`LoginThrottle`).
    public var loginThrottle = LoginThrottle.Settings()
    /// The most members a group may have (the cluster config's `max_group_members`).
    public static let defaultMaxGroupMembers = 10_000
    public var maxGroupMembers = ChatSettings.defaultMaxGroupMembers
    /// Other members named in one `POST /v1/groups`; more join with `POST /v1/groups/{id}/members`
    /// or an invite. Each is a `member_added` message pushed to every member, so a creation
    /// costs the square of this in pushes: 256 keeps it near 66,000.
    public static let maxMembersPerCreate = 256
    public static let maxGroupTitleBytes = 256
    public init() {}
}

/// The front of a node: turns each client request into shard requests, sends them through
/// the router to the shards' primaries, and combines the replies. It holds no chat state of
/// its own, so it is the same code on one node and in a cluster.
public final class ChatService {
    let router: ShardRouter
    let shardMap: ShardMap
    let hasher: PasswordHasher
    let random: RandomSource
    let clock: () -> Int64
    public let settings: ChatSettings
    /// Checked against when the user does not exist, so a login takes as long either way.
    var dummyHash: String?
    /// This node's login throttle (per node, in memory: docs/OPERATIONS.md).
    public internal(set) var loginThrottle: LoginThrottle
    /// Direct chats this node knows exist (see ChatService+Messaging.swift).
    var openDirects: Set<String> = []
    /// Sends waiting behind the opening of their direct chat, by chat.
    var opening: [String: [() -> Void]] = [:]
    /// Who charges tips (Billing.swift): the ledger unless the node's config names a service.
    public var billing: Billing = LedgerBilling()
    /// Where a `payment_failed` sends the user to top up (the node's billing config).
    public var billingURL = ChatService.defaultBillingURL
    public static let defaultBillingURL = "https://billing.relay.invalid/top-up"

    public init(router: ShardRouter, shardMap: ShardMap, hasher: PasswordHasher, random: RandomSource, settings: ChatSettings = ChatSettings(),
                clock: @escaping () -> Int64) {
        self.router = router
        self.shardMap = shardMap
        self.hasher = hasher
        self.random = random
        self.settings = settings
        self.clock = clock
        loginThrottle = LoginThrottle(settings: settings.loginThrottle)
    }

    public struct Grant: Sendable, Equatable {
        public var user: String
        public var token: String
        public var expiresAt: Int64
    }
}
