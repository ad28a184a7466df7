import Chat
import Hashing
import Store

/// One step of a scripted client (Groups.swift, Tips.swift): a request that a client sends
/// and retries, unchanged, until it is answered.
public enum ScriptStep: Equatable, Sendable, CustomStringConvertible {
    /// A change of group `group`'s membership by its admin.
    case group(Int, GroupChange)
    /// An operator's credit of `user`'s wallet (once per `entryID`).
    case credit(user: String, entryID: String, cents: Int64)
    /// A tip from `from` to `to`, charged through the embedded ledger (once per client id).
    case tip(from: String, to: String, clientID: String, cents: Int64)
    /// The owner and members sign up and the owner makes a list of them (Lists.swift).
    case listCreate(owner: String, members: [String])
    /// A mass message to the script's list.
    case listMessage(owner: String, clientID: String)

    public var description: String {
        switch self {
        case .group(let g, let change): "group \(g): \(change)"
        case .credit(let user, _, let cents): "credit \(user) \(cents)"
        case .tip(let from, let to, let clientID, let cents): "tip \(clientID) \(from)→\(to) \(cents)"
        case .listCreate(let owner, let members): "list of \(owner), \(members.count) members"
        case .listMessage(let owner, let clientID): "mass message \(clientID) of \(owner)"
        }
    }
}

/// What a step's answer said.
public enum StepOutcome: Equatable, Sendable {
    case done
    case charged
    case declined
    case listed(String)
    case posted(recipients: Int64)
}

/// An attempt at a scripted client's current step, on its way to a node.
public struct ScriptWrite: Sendable, Equatable, CustomStringConvertible {
    public var client: Int
    public var step: Int
    public var attempt: Int
    public var description: String { "script \(client) step \(step) (attempt \(attempt))" }
}

/// A client that runs its steps one after another under the faults: each goes to a random
/// live node's router and is retried (the same request: same request id, same client id) on
/// `unavailable` or silence until it is answered, as a careful client's would. Its answers
/// are kept for the checker.
struct ScriptClient {
    let steps: [ScriptStep]
    var step = 0
    var attempt = 0
    var inFlight = false
    var outcomes: [StepOutcome] = []
    var isDone: Bool { step == steps.count }
    /// The list a `listCreate` step made.
    var listID: String? {
        for case .listed(let id) in outcomes { return id }
        return nil
    }
}

extension ReplicationSimulation {
    func scheduleScripts() {
        var rng = SplitMix64(seed: seed ^ 0x6209_0000_0000_0007)
        for g in 0..<settings.groups {
            scripts.append(ScriptClient(steps: GroupChange.plan(group: g, count: settings.changesPerGroup, rng: &rng)
                .map { .group(g, $0) }))
        }
        for t in 0..<settings.tippers {
            scripts.append(ScriptClient(steps: TipScript.plan(tipper: t, count: settings.tipsPerTipper, rng: &rng)))
        }
        for l in 0..<settings.lists {
            scripts.append(ScriptClient(steps: ListScript.plan(list: l, members: settings.listMembers, messages: 2)))
        }
        for i in scripts.indices {
            let start = 1 + Int64(rng.below(Int(max(1, settings.faultPhaseMs / 4))))
            queue.schedule(.scriptAttempt(client: i), at: .init(ms: start))
        }
    }

    func scriptAttempt(_ c: Int) {
        guard !scripts[c].isDone, !scripts[c].inFlight else { return }
        let up = nodes.indices.filter { !nodes[$0].isCrashed }
        guard !up.isEmpty else { return schedule(.scriptAttempt(client: c), afterMs: settings.clientRetryPauseMs) }
        let node = up[scriptRng.below(up.count)]
        scripts[c].attempt += 1
        scripts[c].inFlight = true
        stats.scriptAttempts += 1
        let write = ScriptWrite(client: c, step: scripts[c].step, attempt: scripts[c].attempt)
        detail(nil, "script client: \(write) \(scripts[c].steps[write.step]) to \(names[node])")
        schedule(.scriptArrives(node: node, life: nodes[node].life, write), afterMs: 1)
        schedule(.scriptTimeout(write), afterMs: settings.clientTimeoutMs)
    }

    /// The node's router carries the step to its shard(s).
    func scriptArrived(_ n: Int, _ p: NodeProcess, _ write: ScriptWrite) {
        let answer: (Result<StepOutcome, ChatError>) -> Void = { [weak self] result in
            self?.schedule(.scriptAnswer(write, result), afterMs: 1)
        }
        switch scripts[write.client].steps[write.step] {
        case .group(let g, let change): performGroupChange(g, change, step: write.step, on: p, answer: answer)
        case .credit(let user, let entryID, let cents): performCredit(user: user, entryID: entryID, cents: cents, on: p, answer: answer)
        case .tip(let from, let to, let clientID, let cents): performTip(from: from, to: to, clientID: clientID, cents: cents, on: p,
                                                                          answer: answer)
        case .listCreate(let owner, let members): performListCreate(owner: owner, members: members, on: p, answer: answer)
        case .listMessage(let owner, let clientID): performListMessage(write.client, owner: owner, clientID: clientID, on: p,
                                                                       answer: answer)
        }
    }

    func scriptAnswered(_ write: ScriptWrite, _ result: Result<StepOutcome, ChatError>) {
        let c = write.client
        guard write.step == scripts[c].step, write.attempt == scripts[c].attempt else { return }
        scripts[c].inFlight = false
        switch result {
        case .success(let outcome):
            detail(nil, "script client: \(write) \(outcome)")
            scripts[c].outcomes.append(outcome)
            scripts[c].step += 1
            stats.scriptSteps += 1
            if !scripts[c].isDone { schedule(.scriptAttempt(client: c), afterMs: 20 + Int64(scriptRng.below(300))) }
        case .failure(let error):
            if error.code != .unavailable {
                violate(.scriptStepRefused, "\(write) \(scripts[c].steps[write.step]): \(error)")
            }
            schedule(.scriptAttempt(client: c), afterMs: max(error.retryAfterMs ?? 0, settings.clientRetryPauseMs))
        }
    }

    func scriptTimedOut(_ write: ScriptWrite) {
        let c = write.client
        guard write.step == scripts[c].step, write.attempt == scripts[c].attempt, scripts[c].inFlight else { return }
        scripts[c].inFlight = false
        scriptAttempt(c)
    }

    var openScripts: String? {
        guard let i = scripts.firstIndex(where: { !$0.isDone }) else { return nil }
        return "script \(i) is at step \(scripts[i].step) of \(scripts[i].steps.count): \(scripts[i].steps[scripts[i].step])"
    }

    /// The store of the shard's final primary (nil, with a violation, if it has none).
    func finalStore(_ key: ShardKey, for what: String) -> ShardStore? {
        let shard = shardMap.shard(for: key)
        let primary = newestConfig(shard).primary
        guard let store = try? nodes[indexOf[primary]!].disk.files.store(shard) else {
            violate(.scriptStateWrong, "\(what): the primary \(primary) has no copy of shard \(shard)")
            return nil
        }
        return store
    }
}
