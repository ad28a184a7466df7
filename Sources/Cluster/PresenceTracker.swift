import Chat
import Net
import Ring

/// Turns the connection directory into stored presence and `presence` events (docs/PRESENCE.md).
///
/// A user is online while any device is connected anywhere in the cluster. Every node sees
/// the whole directory, but only the primary of a user's shard acts for that user: it calls
/// `SetPresence` with what its directory says, and the rule stores a change only on a
/// transition, so nodes that saw a connection come and go at different moments never make
/// the stored state flap, and two primaries in a row agree on what was stored. A transition
/// answers its audience; this node reads the groups' current members, keeps those online,
/// and pushes one event to each (`eventsPushed` counts them).
///
/// Directory changes are acted on at once (a node that dies is forgotten when gossip says
/// so: its users go offline within the failure-detection time). A sweep every `sweepMs`
/// covers what no change reported: users stored online whom no node holds (the shard's
/// previous primary died before writing their offline), users connected on a shard this
/// node just started to lead, and calls that failed.
///
/// One call per user at a time: a change that arrives while a user's call and fan-out are in
/// flight is looked at again once they finish, so events for one user leave in order, and a
/// quick off-and-on collapses into no event at all.
public final class PresenceTracker {
    /// Between sweeps. The sweep reads each led shard's online users (an index) and looks
    /// each up in the directory: cheap, and it bounds how long a missed change lasts.
    static let sweepMs: Int64 = 1_000
    /// A node that just started has not yet heard its peers' directory snapshots (they come
    /// as its links come up, within a second or so): it decides nothing for this long, so it
    /// never takes users connected elsewhere for offline.
    static let startGraceMs: Int64 = 3_000

    let directory: Directory
    let replicator: Replicator
    let router: ShardRouter
    let shardMap: ShardMap
    let loop: Timers
    private var dirty: Set<String> = []
    private var inFlight: Set<String> = []
    private var flushScheduled = false
    /// Nothing is decided before this (`startGraceMs` after the start).
    private var decideAfterMs: Int64 = .max
    /// The shards led at the last sweep: a shard led since is reconciled whole.
    private var ledAtLastSweep: Set<Int> = []
    /// Users whose call failed: looked at again by the next sweep (not at once, which could
    /// spin while their shard has no primary).
    private var retryAtSweep: Set<String> = []

    /// Transitions this node stored (as some users' primary).
    public private(set) var transitions = 0
    /// `presence` events pushed: one per online recipient of a transition.
    public private(set) var eventsPushed = 0
    /// `SetPresence` calls that failed (retried by the next sweep).
    public private(set) var failedCalls = 0

    init(directory: Directory, replicator: Replicator, router: ShardRouter, shardMap: ShardMap, loop: Timers) {
        self.directory = directory
        self.replicator = replicator
        self.router = router
        self.shardMap = shardMap
        self.loop = loop
        directory.onUsersChanged = { [unowned self] users in changed(users) }
    }

    func start() {
        decideAfterMs = loop.monotonicMs + Self.startGraceMs
        scheduleSweep()
    }

    private func changed(_ users: [String]) {
        dirty.formUnion(users)
        scheduleFlush()
    }

    private func scheduleFlush() {
        guard !flushScheduled else { return }
        flushScheduled = true
        loop.schedule(afterMs: max(0, decideAfterMs == .max ? Self.startGraceMs : decideAfterMs - loop.monotonicMs)) { [weak self] in
            guard let self else { return }
            flushScheduled = false
            flush()
        }
    }

    /// Calls `SetPresence` for the dirty users this node leads, grouped by shard; the others'
    /// primaries act for them.
    private func flush() {
        guard loop.monotonicMs >= decideAfterMs else { return scheduleFlush() }
        var byShard: [Int: [PresenceUpdate]] = [:]
        for user in dirty where !inFlight.contains(user) {
            let shard = shardMap.shard(for: .user(user))
            guard replicator.serves(shard) else { continue }
            byShard[shard, default: []].append(PresenceUpdate(user: user, online: directory.isOnline(user)))
        }
        dirty = dirty.filter { inFlight.contains($0) }
        for shard in byShard.keys.sorted() {
            let updates = byShard[shard]!.sorted { $0.user < $1.user }
            var start = 0
            while start < updates.count {
                let batch = Array(updates[start..<min(updates.count, start + PresenceLimits.maxUpdatesPerCall)])
                start += batch.count
                call(batch)
            }
        }
    }

    private func call(_ batch: [PresenceUpdate]) {
        for u in batch { inFlight.insert(u.user) }
        router.call(SetPresence(batch)) { [weak self] result in
            guard let self else { return }
            switch result {
            case .failure:
                failedCalls += 1
                for u in batch {
                    inFlight.remove(u.user)
                    retryAtSweep.insert(u.user)
                }
            case .success(let fanouts):
                transitions += fanouts.count
                let changed = Set(fanouts.map(\.user))
                for u in batch where !changed.contains(u.user) { finished(u.user) }
                for f in fanouts { fanOut(f) }
            }
        }
    }

    private func finished(_ user: String) {
        inFlight.remove(user)
        if dirty.contains(user) { scheduleFlush() }
    }

    /// The direct-chat partners and the groups' current members, minus the user, those the
    /// user blocked and those offline: one event each.
    private func fanOut(_ f: PresenceFanout) {
        let event = OutboundEvent(kind: .presence, text: f.eventText)
        guard !f.groups.isEmpty else {
            push(event, to: Set(f.partners), from: f.user)
            return
        }
        router.callAll(f.groups.map { PresenceAudience(conversationID: $0, user: f.user) }) { [weak self] results in
            guard let self else { return }
            var recipients = Set(f.partners)
            for case .success(let members) in results { recipients.formUnion(members) }
            recipients.subtract(f.hidden)
            push(event, to: recipients, from: f.user)
        }
    }

    private func push(_ event: OutboundEvent, to recipients: Set<String>, from user: String) {
        let online = recipients.filter { $0 != user && directory.isOnline($0) }.sorted()
        eventsPushed += online.count
        if !online.isEmpty { directory.push(event, to: online, except: nil) }
        finished(user)
    }

    // MARK: The sweep

    private func scheduleSweep() {
        loop.schedule(afterMs: Self.sweepMs) { [weak self] in
            guard let self else { return }
            sweep()
            scheduleSweep()
        }
    }

    private func sweep() {
        dirty.formUnion(retryAtSweep)
        retryAtSweep = []
        var led: Set<Int> = []
        for shard in 0..<shardMap.shardCount where replicator.serves(shard) {
            led.insert(shard)
            guard let store = try? replicator.files.store(shard), let stored = try? store.usersStoredOnline() else { continue }
            for user in stored where !directory.isOnline(user) { dirty.insert(user) }
        }
        let newlyLed = led.subtracting(ledAtLastSweep)
        ledAtLastSweep = led
        if !newlyLed.isEmpty {
            for user in directory.onlineUsers where newlyLed.contains(shardMap.shard(for: .user(user))) { dirty.insert(user) }
        }
        if !dirty.isEmpty { scheduleFlush() }
    }
}
