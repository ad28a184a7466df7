import Chat
import Hashing
import JSON
import Store

/// One change of a group's membership, as its admin's client asks for it.
public enum GroupChange: Equatable, Sendable, CustomStringConvertible {
    case create
    case add(String)
    case remove(String)

    public var description: String {
        switch self {
        case .create: "create"
        case .add(let user): "add \(user)"
        case .remove(let user): "remove \(user)"
        }
    }

    /// The `system` message the change must leave in the group, once: (event, user).
    func record(creator: String) -> (String, String) {
        switch self {
        case .create: ("created", creator)
        case .add(let user): ("member_added", user)
        case .remove(let user): ("member_removed", user)
        }
    }
}

/// An attempt at a group's current change, on its way to a node.
public struct GroupWrite: Sendable, Equatable, CustomStringConvertible {
    public var group: Int
    public var step: Int
    public var attempt: Int
    public var description: String { "group \(group) change \(step) (attempt \(attempt))" }
}

/// A group's admin changing its membership one change after another under the faults: each
/// change goes to a random live node's router and is retried (the same change) on
/// `unavailable` or silence until it is answered, as a client would. The end state must hold
/// every answered change exactly once, in order, as `system` messages, the member table they
/// add up to, and the group in every member's conversation index (the outbox's work).
struct GroupDriver {
    let group: Int
    let changes: [GroupChange]
    var step = 0
    var attempt = 0
    var inFlight = false
    var isDone: Bool { step == changes.count }

    var id: String { "grp:g\(group)" }
    var creator: String { "g\(group)admin" }

    /// A plan of `count` changes after the creation, each one a change: a user of a small
    /// pool joins (when not in) or is removed (when in).
    static func plan(group: Int, count: Int, rng: inout SplitMix64) -> [GroupChange] {
        var changes: [GroupChange] = [.create]
        var members: [String] = []
        let pool = (0..<5).map { "g\(group)u\($0)" }
        for _ in 0..<count {
            let outside = pool.filter { !members.contains($0) }
            if members.isEmpty || (!outside.isEmpty && rng.below(5) < 3) {
                let user = outside[rng.below(outside.count)]
                members.append(user)
                changes.append(.add(user))
            } else {
                let user = members.remove(at: rng.below(members.count))
                changes.append(.remove(user))
            }
        }
        return changes
    }
}

extension ReplicationSimulation {
    func scheduleGroups() {
        var rng = SplitMix64(seed: seed ^ 0x6209_0000_0000_0007)
        for g in 0..<settings.groups {
            groups.append(GroupDriver(group: g, changes: GroupDriver.plan(group: g, count: settings.changesPerGroup, rng: &rng)))
            let start = 1 + Int64(rng.below(Int(max(1, settings.faultPhaseMs / 4))))
            queue.schedule(.groupAttempt(group: g), at: .init(ms: start))
        }
    }

    func groupAttempt(_ g: Int) {
        guard !groups[g].isDone, !groups[g].inFlight else { return }
        let up = nodes.indices.filter { !nodes[$0].isCrashed }
        guard !up.isEmpty else { return schedule(.groupAttempt(group: g), afterMs: settings.clientRetryPauseMs) }
        let node = up[groupRng.below(up.count)]
        groups[g].attempt += 1
        groups[g].inFlight = true
        stats.groupAttempts += 1
        let write = GroupWrite(group: g, step: groups[g].step, attempt: groups[g].attempt)
        detail(nil, "group client: \(write) \(groups[g].changes[write.step]) to \(names[node])")
        schedule(.groupArrives(node: node, life: nodes[node].life, write), afterMs: 1)
        schedule(.groupTimeout(write), afterMs: settings.clientTimeoutMs)
    }

    /// The node's router carries the change to the group's shard.
    func groupArrived(_ n: Int, _ p: NodeProcess, _ write: GroupWrite) {
        let driver = groups[write.group], id = driver.id
        // Every attempt at one change carries the same request id, as a careful client's do.
        let requestID = "g\(write.group)-\(write.step)"
        let answer: (Result<Void, ChatError>) -> Void = { [weak self] result in
            self?.schedule(.groupAnswer(write, result), afterMs: 1)
        }
        switch driver.changes[write.step] {
        case .create:
            p.router.call(CreateGroup(conversationID: id, creator: driver.creator, title: "g", members: [], historyVisible: true)) {
                answer($0.map { _ in () })
            }
        case .add(let user):
            p.router.call(AddMember(conversationID: id, by: driver.creator, user: user, limit: 100, requestID: requestID)) {
                answer($0.map { _ in () })
            }
        case .remove(let user):
            p.router.call(RemoveMember(conversationID: id, by: driver.creator, user: user, requestID: requestID)) {
                answer($0.map { _ in () })
            }
        }
    }

    func groupAnswered(_ write: GroupWrite, _ result: Result<Void, ChatError>) {
        guard write.step == groups[write.group].step, write.attempt == groups[write.group].attempt else { return }
        groups[write.group].inFlight = false
        switch result {
        case .success:
            detail(nil, "group client: \(write) done")
            groups[write.group].step += 1
            stats.groupChanges += 1
            if !groups[write.group].isDone {
                schedule(.groupAttempt(group: write.group), afterMs: 20 + Int64(groupRng.below(300)))
            }
        case .failure(let error):
            if error.code != .unavailable {
                violate(.groupChangeRefused, "\(write) \(groups[write.group].changes[write.step]): \(error)")
            }
            schedule(.groupAttempt(group: write.group), afterMs: max(error.retryAfterMs ?? 0, settings.clientRetryPauseMs))
        }
    }

    func groupTimedOut(_ write: GroupWrite) {
        guard write.step == groups[write.group].step, write.attempt == groups[write.group].attempt, groups[write.group].inFlight else { return }
        groups[write.group].inFlight = false
        groupAttempt(write.group)
    }

    var openGroupChanges: String? {
        guard let open = groups.first(where: { !$0.isDone }) else { return nil }
        return "\(open.id) is at change \(open.step) of \(open.changes.count)"
    }

    /// Each group on its shard's primary: its `system` messages are exactly the changes, in
    /// order; its current members are what they add up to; every member's index lists it.
    func checkGroups() {
        for driver in groups where driver.step > 0 {
            let shard = shardMap.shard(for: .conversation(driver.id))
            let primary = newestConfig(shard).primary
            guard let store = try? nodes[indexOf[primary]!].disk.files.store(shard) else {
                violate(.groupMembershipWrong, "\(driver.id): its primary \(primary) has no copy of shard \(shard)")
                continue
            }
            let recorded: [(String, String)] = ((try? store.db.query(
                "SELECT body FROM messages WHERE conversation_id=? AND kind='system' ORDER BY seq", .text(driver.id))) ?? [])
                .compactMap { row in
                    guard let body = row.text(0), let json = try? JSON.parse(body),
                          let event = json["event"]?.stringValue, let user = json["user"]?.stringValue else { return nil }
                    return (event, user)
                }
            let expected = driver.changes.prefix(driver.step).map { $0.record(creator: driver.creator) }
            if recorded.map({ "\($0.0) \($0.1)" }) != expected.map({ "\($0.0) \($0.1)" }) {
                violate(.groupMembershipWrong, "\(driver.id) on \(primary): recorded \(recorded.map { "\($0.0) \($0.1)" }), "
                    + "answered changes \(expected.map { "\($0.0) \($0.1)" })")
            }
            var members: Set<String> = [driver.creator]
            for change in driver.changes.prefix(driver.step) {
                if case .add(let user) = change { members.insert(user) }
                if case .remove(let user) = change { members.remove(user) }
            }
            let current = Set(((try? store.db.query("SELECT user FROM members WHERE conversation_id=? AND left_seq IS NULL",
                                                    .text(driver.id))) ?? []).compactMap { $0.text(0) })
            if current != members {
                violate(.groupMembershipWrong, "\(driver.id) on \(primary): members \(current.sorted()), the changes add up to \(members.sorted())")
            }
            var everAdded: Set<String> = [driver.creator]
            for case .add(let user) in driver.changes.prefix(driver.step) { everAdded.insert(user) }
            for user in everAdded.sorted() {
                let userShard = shardMap.shard(for: .user(user))
                let holder = newestConfig(userShard).primary
                let listed = (try? nodes[indexOf[holder]!].disk.files.store(userShard).conversationIDs(user: user)) ?? []
                if !listed.contains(driver.id) {
                    violate(.groupMembershipWrong, "\(driver.id): \(user)'s index on \(holder) (shard \(userShard)) does not list it")
                }
            }
        }
    }
}
