import Chat
import Hashing
import JSON
import Store

/// One change of a group's membership, as its admin's client asks for it (a `ScriptStep`).
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
    func record(creator: String) -> String {
        switch self {
        case .create: "created \(creator)"
        case .add(let user): "member_added \(user)"
        case .remove(let user): "member_removed \(user)"
        }
    }

    static func groupID(_ g: Int) -> String { "grp:g\(g)" }
    static func creator(_ g: Int) -> String { "g\(g)admin" }

    /// The creation, then `count` changes, each one a change: a user of a small pool joins
    /// (when not in) or is removed (when in).
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

/// Groups under the faults: an admin changes its group's membership one change after another,
/// every attempt at one change with the same request id. The end state must hold every change
/// exactly once, in order, as `system` messages, the member table they add up to, and the
/// group in every member's conversation index (the outbox's work).
extension ReplicationSimulation {
    func performGroupChange(_ g: Int, _ change: GroupChange, step: Int, on p: NodeProcess,
                            answer: @escaping (Result<StepOutcome, ChatError>) -> Void) {
        let id = GroupChange.groupID(g), creator = GroupChange.creator(g), requestID = "g\(g)-\(step)"
        switch change {
        case .create:
            p.router.call(CreateGroup(conversationID: id, creator: creator, title: "g", members: [], historyVisible: true)) {
                answer($0.map { _ in .done })
            }
        case .add(let user):
            p.router.call(AddMember(conversationID: id, by: creator, user: user, limit: 100, requestID: requestID)) {
                answer($0.map { _ in .done })
            }
        case .remove(let user):
            p.router.call(RemoveMember(conversationID: id, by: creator, user: user, requestID: requestID)) {
                answer($0.map { _ in .done })
            }
        }
    }

    func checkGroups() {
        for client in scripts {
            let changes: [(Int, GroupChange)] = client.steps.prefix(client.step).compactMap {
                if case .group(let g, let change) = $0 { return (g, change) } else { return nil }
            }
            guard let g = changes.first?.0 else { continue }
            let id = GroupChange.groupID(g), creator = GroupChange.creator(g)
            guard let store = finalStore(.conversation(id), for: id) else { continue }
            let recorded: [String] = ((try? store.db.query(
                "SELECT body FROM messages WHERE conversation_id=? AND kind='system' ORDER BY seq", .text(id))) ?? [])
                .compactMap { row in
                    guard let body = row.text(0), let json = try? JSON.parse(body),
                          let event = json["event"]?.stringValue, let user = json["user"]?.stringValue else { return nil }
                    return "\(event) \(user)"
                }
            let expected = changes.map { $0.1.record(creator: creator) }
            if recorded != expected {
                violate(.scriptStateWrong, "\(id): recorded \(recorded), answered changes \(expected)")
            }
            var members: Set<String> = [creator], everAdded: Set<String> = [creator]
            for (_, change) in changes {
                if case .add(let user) = change { members.insert(user); everAdded.insert(user) }
                if case .remove(let user) = change { members.remove(user) }
            }
            let current = Set(((try? store.db.query("SELECT user FROM members WHERE conversation_id=? AND left_seq IS NULL",
                                                    .text(id))) ?? []).compactMap { $0.text(0) })
            if current != members {
                violate(.scriptStateWrong, "\(id): members \(current.sorted()), the changes add up to \(members.sorted())")
            }
            for user in everAdded.sorted() {
                let listed = (try? finalStore(.user(user), for: user)?.conversationIDs(user: user)) ?? []
                if !listed.contains(id) { violate(.scriptStateWrong, "\(id): \(user)'s conversation index does not list it") }
            }
        }
    }
}
