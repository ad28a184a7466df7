/// Admission of accepted peer connections before they authenticate (issue 8: ~1,100 churning
/// idle connections filled the accept slots and a real peer's handshake was refused). A plain
/// value: the transport passes the time in and closes what it is told to.
///
/// Two bounds, on unauthenticated connections only (an established peer is never counted):
///
/// - **Accept rate per source address**: a token bucket of `ratePerSecond`, holding up to
///   `burst`. A connection from an address with an empty bucket is closed at once. Per address,
///   so a storm from one address cannot spend the budget of a peer at another. Addresses of
///   known peers are exempt (the transport says which): a TCP source address cannot be forged
///   past the three-way handshake, and a peer's own redials must never wait behind a storm.
/// - **Connections still handshaking**: at most `maxHandshaking`. When full, the new
///   connection is admitted and an older handshaking one is evicted: the oldest of the address
///   holding the most slots. Refusing the new one instead would let ~13 idle connections a
///   second (64 slots / the 5 s handshake timeout) keep every real dial out; with eviction a
///   storm evicts its own connections, and a peer's handshake, a few round trips on a LAN, is
///   done long before 64 newer connections from its address arrive.
struct AcceptGate<ID: Hashable> {
    struct Settings: Equatable {
        var maxHandshaking: Int
        var ratePerSecond: Int
        var burst: Int
        /// Source addresses whose buckets are tracked; beyond it, full (idle) buckets are
        /// forgotten first, then the fullest one.
        var maxAddresses: Int
    }

    private struct Handshaking {
        let id: ID
        let address: String
    }

    /// Tokens in thousandths, so a refill of `ratePerSecond` per 1,000 ms is exact integer math.
    private struct Bucket {
        var milliTokens: Int64
        var updatedMs: Int64
    }

    let settings: Settings
    /// Oldest first.
    private var handshaking: [Handshaking] = []
    private var buckets: [String: Bucket] = [:]

    init(settings: Settings) {
        precondition(settings.maxHandshaking > 0 && settings.ratePerSecond > 0 && settings.burst > 0
                     && settings.maxAddresses > 0, "inconsistent accept bounds: \(settings)")
        self.settings = settings
    }

    var handshakingCount: Int { handshaking.count }
    var trackedAddresses: Int { buckets.count }

    /// A connection was accepted from `address` (an IP, no port): false if that address is
    /// over the accept rate (close it now). Known peers' addresses are `exempt`.
    mutating func admitRate(address: String, exempt: Bool, nowMs: Int64) -> Bool {
        exempt || take(address, nowMs: nowMs)
    }

    /// An admitted connection starts its handshake. Returns the connection to evict (close)
    /// to stay within `maxHandshaking`, if any.
    mutating func handshakeStarted(_ id: ID, address: String) -> ID? {
        var evicted: ID?
        if handshaking.count >= settings.maxHandshaking {
            let victim = victimIndex()
            evicted = handshaking[victim].id
            handshaking.remove(at: victim)
        }
        handshaking.append(Handshaking(id: id, address: address))
        assert(handshaking.count <= settings.maxHandshaking,
               "\(handshaking.count) connections handshaking, over the bound \(settings.maxHandshaking)")
        return evicted
    }

    /// The connection finished its handshake or closed: it no longer holds a slot.
    mutating func handshakeEnded(_ id: ID) {
        handshaking.removeAll { $0.id == id }
    }

    /// The oldest connection of the address with the most slots (ties: the address whose
    /// oldest connection is oldest). Order comes from the array, never from a dictionary.
    private func victimIndex() -> Int {
        var counts: [String: Int] = [:]
        for entry in handshaking { counts[entry.address, default: 0] += 1 }
        var best = 0
        for (i, entry) in handshaking.enumerated() where counts[entry.address, default: 0] > counts[handshaking[best].address, default: 0] {
            best = i
        }
        return best
    }

    private mutating func take(_ address: String, nowMs: Int64) -> Bool {
        let capacity = Int64(settings.burst) * 1_000
        var bucket = buckets[address] ?? Bucket(milliTokens: capacity, updatedMs: nowMs)
        let elapsed = max(nowMs - bucket.updatedMs, 0)
        bucket.milliTokens = min(capacity, bucket.milliTokens + elapsed * Int64(settings.ratePerSecond))
        bucket.updatedMs = nowMs
        let admitted = bucket.milliTokens >= 1_000
        if admitted { bucket.milliTokens -= 1_000 }
        if buckets[address] == nil { makeRoom(nowMs: nowMs) }
        buckets[address] = bucket
        return admitted
    }

    /// Keeps `buckets` under `maxAddresses`: forgets the buckets that have refilled (they are
    /// as good as new), then, if still full, the fullest (ties: the smaller address).
    private mutating func makeRoom(nowMs: Int64) {
        guard buckets.count >= settings.maxAddresses else { return }
        let capacity = Int64(settings.burst) * 1_000
        func level(_ bucket: Bucket) -> Int64 {
            min(capacity, bucket.milliTokens + max(nowMs - bucket.updatedMs, 0) * Int64(settings.ratePerSecond))
        }
        buckets = buckets.filter { level($0.value) < capacity }
        guard buckets.count >= settings.maxAddresses,
              let fullest = buckets.max(by: { (level($0.value), $1.key) < (level($1.value), $0.key) }) else { return }
        buckets.removeValue(forKey: fullest.key)
    }
}
