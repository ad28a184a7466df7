/// Login throttling (issue 8: 200 wrong passwords for one account at 40-85 attempts/s were all
/// checked, then the right one accepted). A plain value: the caller passes the time in and
/// does the I/O; nothing here reads a clock. Three rules, each a defence against one attack
/// (docs/OPERATIONS.md, "Login throttling"):
///
/// - **pair** (account, source address): `freeFailuresPerPair` failures, then each further
///   attempt waits `pairBaseDelayMs` doubling per failure up to `pairMaxDelayMs` after the
///   last failure; a success clears it. Guessing one account from one address.
/// - **address**, across all accounts: `addressFailureBudget` failures per
///   `addressWindowMs`. Spraying one common password over many accounts.
/// - **account**, across all addresses: `accountFailureBudget` failures per
///   `accountWindowMs`. Guessing one account from many addresses.
///
/// A pair that logged in successfully within `trustedForMs` is *trusted*: the address and
/// account budgets neither stop it nor count its failures, so an attacker who exhausts them
/// cannot lock a user out of the addresses they already use. Only the pair rule applies to it,
/// and the attacker cannot touch that pair without being at the same address.
///
/// An attempt is charged when it is admitted (`begin`), before its password is checked:
/// concurrent guesses therefore count at once, and a throttled attempt costs no hash. The
/// result (`finish`) refunds the charge of a success or of an attempt that was never checked.
/// Budgets are leaky buckets (GCRA, the "virtual scheduling" form of ITU-T I.371): one
/// failure frees up every `window / budget` ms, so a full bucket's wait is one such interval
/// and the memory per key is one timestamp.
///
/// Memory is bounded: each of the four maps holds at most its `max…` entries and forgets the
/// least recently written one to make room (`BoundedLRU`). Trusted pairs have their own map, so
/// failing attempts can never push a real user's trust out.
public struct LoginThrottle {
    public struct Settings: Sendable, Equatable {
        /// Failures of one account from one address before waits start: 5, room for typos.
        public var freeFailuresPerPair = 5
        /// First wait after the free failures, doubling per further failure: 1 s.
        public var pairBaseDelayMs: Int64 = 1_000
        /// Longest wait of the pair rule: 60 s, so a user who mistyped many times (or shares an
        /// address with an attacker on the same account) is never kept out longer than that.
        public var pairMaxDelayMs: Int64 = 60_000
        /// A pair's failures are forgotten this long after its last one: 15 min.
        public var pairForgetAfterMs: Int64 = 15 * 60_000
        /// Failures from one address over all accounts: 30 per 10 min (then one per 20 s),
        /// far above a household's typos, far below a password spray.
        public var addressFailureBudget = 30
        public var addressWindowMs: Int64 = 10 * 60_000
        /// Failures on one account from untrusted addresses: 100 per hour (then one per 36 s,
        /// 2,400 a day). One address alone cannot exhaust it: the pair rule holds one address
        /// to 70 failures on one account in the first hour and 60 an hour after that.
        public var accountFailureBudget = 100
        public var accountWindowMs: Int64 = 60 * 60_000
        /// How long a successful login keeps its pair trusted: 30 days, a token's lifetime.
        public var trustedForMs: Int64 = 30 * 24 * 3_600_000
        /// Map bounds. An entry is a key of up to ~80 bytes and a timestamp or two; with the
        /// dictionary and list overhead about 200 bytes, so each full map is ~13 MiB.
        public var maxPairs = 65_536
        public var maxAddresses = 65_536
        public var maxAccounts = 65_536
        public var maxTrustedPairs = 65_536

        public init() {}
    }

    public enum Rule: String, Sendable {
        case pair, address, account
    }

    /// An admitted attempt: report its result with `finish`.
    public struct Attempt: Sendable, Equatable {
        public let account: String
        public let source: String
        /// Charged to the address and account budgets (false for a trusted pair).
        let chargedBudgets: Bool
    }

    public enum Decision: Sendable, Equatable {
        /// Check the password now.
        case allowed(Attempt)
        /// Refuse without checking: `rate_limited`, retry after that many ms.
        case throttled(retryAfterMs: Int64, rule: Rule)
    }

    public enum Outcome: Sendable {
        case succeeded
        /// Wrong password, or no such account.
        case failed
        /// The password was not checked (the node was busy or the shard unavailable).
        case notChecked
    }

    /// Counters for `/metrics`.
    public struct Stats: Sendable, Equatable {
        public var successes = 0
        public var failures = 0
        public var throttledByPair = 0
        public var throttledByAddress = 0
        public var throttledByAccount = 0
        /// Entries forgotten to make room in a full map.
        public var evictions = 0
        public init() {}
    }

    struct PairKey: Hashable, Sendable {
        let account: String
        let source: String
    }

    struct PairFailures: Sendable {
        var count: Int
        var lastMs: Int64
    }

    public let settings: Settings
    public private(set) var stats = Stats()
    private var pairs: BoundedLRU<PairKey, PairFailures>
    private var trusted: BoundedLRU<PairKey, Int64>
    /// Theoretical arrival times (GCRA) of the budgets.
    private var addresses: BoundedLRU<String, Int64>
    private var accounts: BoundedLRU<String, Int64>

    public init(settings: Settings = Settings()) {
        precondition(settings.freeFailuresPerPair >= 0 && settings.pairBaseDelayMs > 0
                     && settings.pairMaxDelayMs >= settings.pairBaseDelayMs && settings.pairForgetAfterMs > 0
                     && settings.addressFailureBudget > 0 && settings.addressWindowMs >= Int64(settings.addressFailureBudget)
                     && settings.accountFailureBudget > 0 && settings.accountWindowMs >= Int64(settings.accountFailureBudget)
                     && settings.trustedForMs >= 0,
                     "inconsistent login throttle settings: \(settings)")
        self.settings = settings
        pairs = BoundedLRU(capacity: settings.maxPairs)
        trusted = BoundedLRU(capacity: settings.maxTrustedPairs)
        addresses = BoundedLRU(capacity: settings.maxAddresses)
        accounts = BoundedLRU(capacity: settings.maxAccounts)
    }

    /// Entries held over all maps.
    public var records: Int { pairs.count + trusted.count + addresses.count + accounts.count }

    /// Before the password is checked: admits and charges the attempt, or refuses it.
    public mutating func begin(account: String, source: String, nowMs: Int64) -> Decision {
        let key = PairKey(account: account, source: source)
        let isTrusted = self.isTrusted(key, nowMs: nowMs)
        var rule = Rule.pair
        var wait = pairWait(key, nowMs: nowMs)
        if !isTrusted {
            for (candidate, ruleWait) in [
                (Rule.address, Self.budgetWait(addresses[source], nowMs: nowMs, interval: addressIntervalMs, window: settings.addressWindowMs)),
                (Rule.account, Self.budgetWait(accounts[account], nowMs: nowMs, interval: accountIntervalMs, window: settings.accountWindowMs)),
            ] where ruleWait > wait {
                (rule, wait) = (candidate, ruleWait)
            }
        }
        if wait > 0 {
            switch rule {
            case .pair: stats.throttledByPair += 1
            case .address: stats.throttledByAddress += 1
            case .account: stats.throttledByAccount += 1
            }
            return .throttled(retryAfterMs: wait, rule: rule)
        }
        chargePair(key, nowMs: nowMs)
        if !isTrusted {
            if Self.charge(&addresses, source, nowMs: nowMs, interval: addressIntervalMs) { stats.evictions += 1 }
            if Self.charge(&accounts, account, nowMs: nowMs, interval: accountIntervalMs) { stats.evictions += 1 }
        }
        return .allowed(Attempt(account: account, source: source, chargedBudgets: !isTrusted))
    }

    /// After the check: a success clears the pair, trusts it and refunds the budgets; a
    /// failure keeps its charge; an attempt never checked is refunded everywhere.
    public mutating func finish(_ attempt: Attempt, _ outcome: Outcome, nowMs: Int64) {
        let key = PairKey(account: attempt.account, source: attempt.source)
        switch outcome {
        case .succeeded:
            stats.successes += 1
            pairs.remove(key)
            if trusted.set(key, nowMs) != nil { stats.evictions += 1 }
        case .failed:
            stats.failures += 1
            return
        case .notChecked:
            pairs.update(key) { $0.count -= 1 }
            if let failures = pairs[key], failures.count <= 0 { pairs.remove(key) }
        }
        if attempt.chargedBudgets {
            Self.refund(&addresses, attempt.source, nowMs: nowMs, interval: addressIntervalMs)
            Self.refund(&accounts, attempt.account, nowMs: nowMs, interval: accountIntervalMs)
        }
    }

    // MARK: Rules

    private var addressIntervalMs: Int64 { settings.addressWindowMs / Int64(settings.addressFailureBudget) }
    private var accountIntervalMs: Int64 { settings.accountWindowMs / Int64(settings.accountFailureBudget) }

    private func isTrusted(_ key: PairKey, nowMs: Int64) -> Bool {
        guard let since = trusted[key] else { return false }
        return nowMs - since < settings.trustedForMs
    }

    /// The wait the pair rule imposes now, 0 if none. Clamped to `pairMaxDelayMs`, so a clock
    /// stepped backwards cannot stretch it.
    private func pairWait(_ key: PairKey, nowMs: Int64) -> Int64 {
        guard let failures = pairs[key], nowMs - failures.lastMs < settings.pairForgetAfterMs else { return 0 }
        let wait = failures.lastMs + pairDelay(afterFailures: failures.count) - nowMs
        return min(max(wait, 0), settings.pairMaxDelayMs)
    }

    /// 0 for the free failures, then base, 2×base, 4×base … up to the max.
    func pairDelay(afterFailures count: Int) -> Int64 {
        guard count > settings.freeFailuresPerPair else { return 0 }
        let doublings = min(count - settings.freeFailuresPerPair - 1, 32)
        let (delay, overflow) = settings.pairBaseDelayMs.multipliedReportingOverflow(by: Int64(1) << doublings)
        return overflow ? settings.pairMaxDelayMs : min(delay, settings.pairMaxDelayMs)
    }

    private mutating func chargePair(_ key: PairKey, nowMs: Int64) {
        var failures = PairFailures(count: 0, lastMs: nowMs)
        if let old = pairs[key], nowMs - old.lastMs < settings.pairForgetAfterMs { failures.count = old.count }
        failures.count += 1
        failures.lastMs = nowMs
        if pairs.set(key, failures) != nil { stats.evictions += 1 }
    }

    /// GCRA: a bucket holds `window` ms of debt, each failure adds `interval`; an attempt fits
    /// while debt + interval <= window. Returns the wait until it fits, at most `interval`
    /// (clamped, for a clock stepped backwards).
    static func budgetWait(_ tat: Int64?, nowMs: Int64, interval: Int64, window: Int64) -> Int64 {
        guard let tat else { return 0 }
        let over = max(tat - nowMs, 0) + interval - window
        return min(max(over, 0), interval)
    }

    /// Adds one failure's debt; true if an entry was forgotten to make room.
    private static func charge(_ map: inout BoundedLRU<String, Int64>, _ key: String, nowMs: Int64, interval: Int64) -> Bool {
        let tat = max(map[key] ?? nowMs, nowMs) + interval
        return map.set(key, tat) != nil
    }

    private static func refund(_ map: inout BoundedLRU<String, Int64>, _ key: String, nowMs: Int64, interval: Int64) {
        guard let tat = map[key] else { return }
        if tat - interval <= nowMs {
            map.remove(key)
        } else {
            map.update(key) { $0 = tat - interval }
        }
    }
}
