import Replication
import Store

/// The end of a run: heal everything, let the cluster settle, write once more to every shard,
/// then hold the final state to the invariants.
extension ReplicationSimulation {
    // MARK: Queries

    /// The newest config any node knows for the shard.
    public func newestConfig(_ shard: Int) -> ShardConfig {
        var best = initialConfig(shard)
        for node in nodes {
            guard let c = node.process?.core.config(shard) else {
                if let known = try? node.disk.config.loadKnown()[shard], known.epoch > best.epoch { best = known }
                continue
            }
            if c.epoch > best.epoch { best = c }
        }
        return best
    }

    /// The node that serves writes for the shard now (it leads it at the newest epoch).
    public func servingPrimary(_ shard: Int) -> String? {
        let config = newestConfig(shard)
        guard let i = indexOf[config.primary], case .running(let p) = nodes[i].status,
              p.replicator.serves(shard), p.core.config(shard).epoch == config.epoch else { return nil }
        return config.primary
    }

    /// Nodes whose core leads the shard (a deposed primary that has not noticed counts).
    public func leaders(_ shard: Int) -> [String] {
        nodes.compactMap { node in node.process.map { $0.core.leads(shard) } == true ? node.name : nil }
    }

    /// The node's copy of the shard as its disk holds it (committed state; a running node's
    /// open transaction is not visible at a turn's end).
    public func copy(of shard: Int, on node: String) -> ShardView { shardView(shard, on: node) }

    /// The node's last log entry for the shard (0: it holds no copy).
    func lastLSN(of shard: Int, on node: String) -> Int64 { logPosition(shard, on: node).lastLSN }

    /// Where the node's log of the shard stands, and the term of any entry it still holds.
    func logPosition(_ shard: Int, on node: String) -> (lastLSN: Int64, term: (Int64) -> Int64?) {
        let files = nodes[indexOf[node]!].disk.files
        guard files.exists(shard: shard), let store = try? files.store(shard) else { return (0, { $0 == 0 ? 0 : nil }) }
        return (store.lastLSN, { lsn in (try? store.term(at: lsn)) ?? nil })
    }

    func shardView(_ shard: Int, on node: String) -> ShardView {
        let files = nodes[indexOf[node]!].disk.files
        guard files.exists(shard: shard), let store = try? files.store(shard),
              let view = try? ShardView.read(store, conversation: { [unowned self] in conversationNumber($0) }) else { return ShardView() }
        return view
    }

    /// The node's replica core (nil while it is crashed).
    public func core(of node: String) -> ReplicaCore? { nodes[indexOf[node]!].process?.core }

    public func isCrashed(_ node: String) -> Bool { nodes[indexOf[node]!].isCrashed }

    /// Changes a node's stored copy behind the protocol's back, with SQL on its database: for
    /// tests that show the checker notices a broken state.
    func tamper(shard: Int, on node: String, _ sql: String) {
        let files = nodes[indexOf[node]!].disk.files
        guard let store = try? files.store(shard) else { return }
        try? store.executeBehindTheLog(sql)
    }

    public func index(of node: String) -> Int { indexOf[node]! }

    // MARK: Settling

    /// Why the cluster is not settled yet (nil: settled): every node up, every send answered,
    /// every shard led by its preferred node at the newest epoch, serving, with every entry
    /// released, no change in progress, its isr the preference list, every isr copy at the
    /// primary's last entry and its outbox empty; every scripted client done.
    public func unsettled() -> String? {
        if let down = nodes.first(where: { !$0.isRunning }) { return "\(down.name) is not running" }
        for shard in 0..<settings.shardCount {
            let config = newestConfig(shard)
            guard let primary = servingPrimary(shard), let p = nodes[indexOf[primary]!].process else {
                return "shard \(shard): no serving primary (newest \(config), leaders: \(leaders(shard)))"
            }
            let last = lastLSN(of: shard, on: primary)
            if p.core.released(shard) < last { return "shard \(shard): \(primary) released \(p.core.released(shard)) of \(last)" }
            for node in nodes {
                if let kind = node.process?.core.proposing(shard) { return "shard \(shard): \(node.name) is proposing \(kind)" }
            }
            let preferred = self.preferred(shard)
            guard config.primary == preferred[0], Set(config.isr) == Set(preferred) else {
                return "shard \(shard): \(config), preference list \(preferred.joined(separator: ","))"
            }
            for member in config.isr where lastLSN(of: shard, on: member) != last {
                return "shard \(shard): \(member) holds \(lastLSN(of: shard, on: member)) of \(last)"
            }
            // Work for other shards is finished too (a job may be waiting out its backoff).
            if let jobs = try? nodes[indexOf[primary]!].disk.files.store(shard).jobIDs(), let first = jobs.first {
                return "shard \(shard): \(jobs.count) outbox jobs left on \(primary), e.g. \(first)"
            }
        }
        if let open = openScripts { return open }
        let open = clients.filter { !$0.isDone }
        if let first = open.first {
            return "\(open.count) sends open, e.g. \(first.id) (c\(first.clientID) conv\(first.conversation), shard \(shard(of: first.conversation))): \(first.status)"
        }
        return nil
    }

    // MARK: The end of a run

    /// Heals everything, settles, writes to every shard once more, and checks. Returns every
    /// violation of the run (online ones included).
    @discardableResult
    public func finish() -> [Violation] {
        if nowMs < settings.faultPhaseMs { run(untilMs: settings.faultPhaseMs) }
        perform(.healAll)
        if !run(until: { unsettled() == nil }, limitMs: settings.settleLimitMs, stepMs: 250) {
            violate(.notSettled, unsettled() ?? "?")
        }
        finalRound()
        checkFinalState()
        checkGroups()
        checkTips()
        checkLists()
        for node in nodes { node.process.map(harvest) }
        return violations
    }

    /// One more write to every shard, each to a random node: every one must be acked.
    private func finalRound() {
        var sends: [(shard: Int, id: Int)] = []
        for shard in 0..<settings.shardCount {
            sends.append((shard, submit(conversation: conversation(onShard: shard))))
        }
        let ok = run(until: { sends.allSatisfy { ack(of: $0.id) != nil } }, limitMs: settings.finalRoundLimitMs)
        if !ok {
            let missing = sends.filter { ack(of: $0.id) == nil }.map { "shard \($0.shard) (\(clients[$0.id].status))" }
            violate(.finalWriteNotAcked, "no ack for the final write to " + missing.joined(separator: ", "))
        }
        // Let the last releases reach every replica.
        run(until: { unsettled() == nil }, limitMs: 5_000, stepMs: 100)
    }

    /// Checks the final state: no acked message lost, no duplicate, gapless seqs, and (once
    /// settled: before that they may lag) equal copies.
    public func checkFinalState() {
        let settled = unsettled() == nil
        for shard in 0..<settings.shardCount {
            let config = newestConfig(shard)
            let primary = config.primary
            let reference = copy(of: shard, on: primary)
            for member in config.isr {
                checkCopy(shard, member, copy(of: shard, on: member))
                guard member != primary, settled else { continue }
                let theirs = copy(of: shard, on: member)
                if theirs.conversations != reference.conversations || theirs.lastLSN != reference.lastLSN {
                    violate(.copiesDiverge, "shard \(shard): \(member) (last \(theirs.lastLSN)) differs from the primary \(primary) (last \(reference.lastLSN)): "
                        + firstDifference(reference, theirs))
                } else {
                    var lsn = max(reference.base, theirs.base) + 1
                    while lsn <= reference.lastLSN {
                        if reference.term(at: lsn) != theirs.term(at: lsn) {
                            violate(.copiesDiverge, "shard \(shard): entry \(lsn) has term \(reference.term(at: lsn) ?? -1) on \(primary), \(theirs.term(at: lsn) ?? -1) on \(member)")
                            break
                        }
                        lsn += 1
                    }
                }
            }
        }
        for ack in ledger.all {
            let shard = shard(of: ack.conversation)
            let primary = newestConfig(shard).primary
            let state = copy(of: shard, on: primary).conversation(ack.conversation)
            let stored = state?.messages[ack.seq]
            if stored?.clientID != ack.clientID || state?.seqByClientID[ack.clientID] != ack.seq {
                violate(.ackedMessageLost, "c\(ack.clientID) acked as conv\(ack.conversation) seq \(ack.seq) by n\(ack.node + 1) at \(ack.atMs) ms; "
                    + "the primary \(primary) of shard \(shard) holds \(stored.map { "c\($0.clientID)" } ?? "nothing") at that seq, "
                    + "c\(ack.clientID) at seq \(state?.seqByClientID[ack.clientID].map(String.init) ?? "none")")
            }
        }
    }

    /// One copy on its own: each client_id once per conversation, seqs 1...n without a gap,
    /// the idempotency rows matching the messages.
    private func checkCopy(_ shard: Int, _ node: String, _ copy: ShardView) {
        for id in copy.conversationIDs {
            let c = copy.conversation(id)!
            var seen: [Int: Int64] = [:]
            for seq in c.messages.keys.sorted() {
                let clientID = c.messages[seq]!.clientID
                if let first = seen[clientID] {
                    violate(.duplicateMessage, "shard \(shard) on \(node): conv\(id) holds c\(clientID) at seq \(first) and \(seq)")
                }
                seen[clientID] = seen[clientID] ?? seq
            }
            let gapless = c.messages.count == Int(c.lastSeq) && c.messages.keys.allSatisfy { $0 >= 1 && $0 <= c.lastSeq }
            if !gapless {
                let missing = (1...max(c.lastSeq, 1)).filter { c.messages[$0] == nil }.prefix(5)
                violate(.seqGap, "shard \(shard) on \(node): conv\(id) has \(c.messages.count) messages, last seq \(c.lastSeq), missing \(Array(missing))")
            }
            if seen != c.seqByClientID {
                violate(.duplicateMessage, "shard \(shard) on \(node): conv\(id)'s idempotency rows do not match its messages")
            }
        }
    }

    private func firstDifference(_ a: ShardView, _ b: ShardView) -> String {
        for id in Set(a.conversationIDs + b.conversationIDs).sorted() where a.conversation(id) != b.conversation(id) {
            let x = a.conversation(id), y = b.conversation(id)
            let seqs = Set((x?.messages.keys).map(Array.init) ?? []).union((y?.messages.keys).map(Array.init) ?? []).sorted()
            for seq in seqs where x?.messages[seq] != y?.messages[seq] {
                return "conv\(id) seq \(seq): \(x?.messages[seq].map { "c\($0.clientID)" } ?? "none") vs \(y?.messages[seq].map { "c\($0.clientID)" } ?? "none")"
            }
            return "conv\(id): last seq \(x?.lastSeq ?? 0) vs \(y?.lastSeq ?? 0)"
        }
        return "same state, logs differ"
    }

    /// The register's history per shard, for reports.
    public var historyReport: [String] {
        (0..<settings.shardCount).map { s in "shard \(s): " + history[s].map(\.description).joined(separator: " → ") }
    }
}
