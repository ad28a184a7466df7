import Replication

/// The replication shell of a simulated node: what `Replicator` does in the real one. It
/// feeds the core membership, time, register messages, local commits and followers'
/// answers, and carries out its actions against the simulated disk and network.
extension ReplicationSimulation {
    // MARK: Processes

    /// Starts a process on node `n` from its durable part (a restart, or the first start).
    func boot(_ n: Int) {
        let node = nodes[n], disk = node.disk
        let core = ReplicaCore(me: node.name, shardCount: settings.shardCount, replication: settings.replication,
                               initial: { self.initialConfig($0) },
                               acceptor: ConfigAcceptor(disk.slots), known: disk.known, ballotCounter: disk.ballotCounter,
                               logHead: { [disk] shard in disk.shards[shard].lastLSN })
        node.life += 1
        node.status = .running(NodeProcess(core: core, shardCount: settings.shardCount,
                                           messageIDBase: Int64(n + 1) << 48 | Int64(node.restarts) << 32))
        node.restarts += 1
        queue.schedule(.tick(node: n, life: node.life), at: .init(ms: nowMs + 1 + Int64(memberRng.below(Int(settings.tickIntervalMs)))))
    }

    /// Hands the core this node's current view of the membership.
    func setMembers(_ n: Int) {
        guard case .running(let p) = nodes[n].status else { return }
        let alive = Set(oracle.alive(seenBy: n).map { names[$0] })
        let orders = self.orders
        run(n, p, p.core.setMembers(ring: names, alive: alive, order: { orders.indices.contains($0) ? orders[$0] : [] },
                                    nowMs: nowMs))
    }

    /// A peer connection came up: tell the peer every config we know committed.
    func peerUp(_ n: Int, _ peer: Int) {
        guard case .running(let p) = nodes[n].status else { return }
        let table = p.core.table()
        guard !table.isEmpty else { return }
        send(from: n, to: peer, .register(.table(table)))
    }

    // MARK: Carrying out actions

    func run(_ n: Int, _ p: NodeProcess, _ actions: [ReplicaCore.Action]) {
        let disk = nodes[n].disk
        for action in actions {
            switch action {
            case .send(let to, let message):
                send(from: n, to: indexOf[to]!, .register(message))
            case .broadcast(let message):
                for peer in oracle.alive(seenBy: n) where peer != n { send(from: n, to: peer, .register(message)) }
            case .ship(let shard, let to, let after, let through, let epoch, let generation):
                ship(n, p, shard, to: indexOf[to]!, after: after, through: through, epoch: epoch, generation: generation)
            case .snapshot(let shard, let to, let epoch, let generation):
                offerSnapshot(n, p, shard, to: indexOf[to]!, epoch: epoch, generation: generation)
            case .release(let shard, let through):
                checkRelease(n, p, shard, through: through)
                release(n, p, shard, through: through)
            case .stepDown(let shard):
                stats.stepDowns += 1
                abandon(n, p, shard)
            case .startLeading:
                break
            case .persistSlot(let shard, let slot):
                disk.slots[shard] = slot
            case .persistKnown(let shard, let config):
                disk.known[shard] = config
                recordCommitted(shard, config, by: n)
            case .persistBallot(let counter):
                disk.ballotCounter = counter
            case .log(let text):
                note(n, text)
            }
        }
    }

    /// The register's history, checked as it grows: one config per epoch, ever.
    private func recordCommitted(_ shard: Int, _ config: ShardConfig, by n: Int) {
        if let same = history[shard].first(where: { $0.epoch == config.epoch }) {
            if same != config {
                violate(.configFork, "shard \(shard): epoch \(config.epoch) committed as \(same) and as \(config) (learned by \(names[n]))")
            }
            return
        }
        stats.configsCommitted += 1
        history[shard].append(config)
        history[shard].sort { $0.epoch < $1.epoch }
    }

    // MARK: Leading: appends and snapshots

    private func ship(_ n: Int, _ p: NodeProcess, _ shard: Int, to: Int, after: Int64, through: Int64, epoch: Int64, generation: UInt64) {
        let copy = nodes[n].disk.shards[shard]
        guard let prevTerm = copy.term(at: after), let entries = copy.entries(after: after, through: through) else {
            // Our log no longer reaches back that far: the follower needs a snapshot.
            detail(n, "shard \(shard): entries after \(after) are trimmed; \(names[to]) needs a snapshot")
            return run(n, p, p.core.onAppendReply(shard: shard, from: names[to], epoch: epoch, generation: generation,
                                                  .mismatch(lastLSN: after, lastTerm: -1), matches: false, nowMs: nowMs))
        }
        detail(n, "shard \(shard): append (\(after), \(through)] e\(epoch) to \(names[to])")
        send(from: n, to: to, .append(shard: shard, epoch: epoch, generation: generation, prevLSN: after, prevTerm: prevTerm, entries: entries,
                                      requesterLife: nodes[n].life))
    }

    private func offerSnapshot(_ n: Int, _ p: NodeProcess, _ shard: Int, to: Int, epoch: Int64, generation: UInt64) {
        note(n, "shard \(shard): sending \(names[to]) a snapshot")
        stats.snapshotsSent += 1
        nextSnapshotID += 1
        p.snapshotsOut["\(shard)/\(to)"] = nextSnapshotID
        send(from: n, to: to, .snapshot(shard: shard, epoch: epoch, generation: generation, nodes[n].disk.shards[shard], id: nextSnapshotID,
                                        requesterLife: nodes[n].life))
        schedule(.snapshotTimeout(node: n, life: nodes[n].life, shard: shard, to: to, id: nextSnapshotID, generation: generation),
                 afterMs: settings.snapshotTimeoutMs)
    }

    /// A follower's answer to an append or a snapshot.
    private func appendAnswered(_ n: Int, _ p: NodeProcess, from: Int, shard: Int, epoch: Int64, generation: UInt64,
                                _ reply: AppendReply, snapshotID: Int?) {
        detail(n, "shard \(shard): \(names[from]) answers \(reply) to e\(epoch)\(snapshotID == nil ? "" : " (snapshot)")")
        var matches = false
        if let id = snapshotID {
            let key = "\(shard)/\(from)"
            if p.snapshotsOut[key] == id { p.snapshotsOut[key] = nil }
        } else if case .mismatch(let lsn, let term) = reply {
            let copy = nodes[n].disk.shards[shard]
            matches = lsn == 0 ? copy.reachesBackToStart : copy.term(at: lsn) == term
        }
        run(n, p, p.core.onAppendReply(shard: shard, from: names[from], epoch: epoch, generation: generation, reply, matches: matches,
                                       nowMs: nowMs))
    }

    /// Online check of the rule every ack rests on: when a primary releases entries, every
    /// isr member of its config holds them (the same entry at `through`).
    private func checkRelease(_ n: Int, _ p: NodeProcess, _ shard: Int, through: Int64) {
        let mine = nodes[n].disk.shards[shard]
        guard through <= mine.lastLSN else {
            return violate(.releasedBeyondIsr, "shard \(shard): \(names[n]) released through \(through) beyond its own log (\(mine.lastLSN))")
        }
        let config = p.core.config(shard)
        let term = mine.term(at: through)
        for name in config.isr where name != names[n] {
            let theirs = nodes[indexOf[name]!].disk.shards[shard]
            if theirs.lastLSN < through {
                violate(.releasedBeyondIsr, "shard \(shard): \(names[n]) (\(config)) released through \(through) but \(name) holds only \(theirs.lastLSN)")
            } else if let term, let other = theirs.term(at: through), other != term {
                violate(.releasedBeyondIsr, "shard \(shard): \(names[n]) (\(config)) released through \(through) (term \(term)) but \(name) holds term \(other) there")
            }
        }
    }

    // MARK: Messages

    func receive(_ n: Int, _ p: NodeProcess, from: Int, _ message: NodeMessage) {
        switch message {
        case .register(let m):
            run(n, p, p.core.onMessage(from: names[from], m, nowMs: nowMs))
        case .append(let shard, let epoch, let generation, let prevLSN, let prevTerm, let entries, let requesterLife):
            let reply = answerAppend(n, p, from: from, shard: shard, epoch: epoch, prevLSN: prevLSN, prevTerm: prevTerm, entries: entries)
            send(from: n, to: from, .appendReply(shard: shard, epoch: epoch, generation: generation, reply, snapshotID: nil),
                 toLife: requesterLife)
        case .appendReply(let shard, let epoch, let generation, let reply, let snapshotID):
            appendAnswered(n, p, from: from, shard: shard, epoch: epoch, generation: generation, reply, snapshotID: snapshotID)
        case .snapshot(let shard, let epoch, let generation, let copy, let id, let requesterLife):
            let reply = installSnapshot(n, p, from: from, shard: shard, epoch: epoch, copy)
            send(from: n, to: from, .appendReply(shard: shard, epoch: epoch, generation: generation, reply, snapshotID: id),
                 toLife: requesterLife)
        case .forward(let write, let requestID, let requesterLife):
            serveForwarded(n, p, from: from, write, requestID: requestID, requesterLife: requesterLife)
        case .forwardReply(let requestID, let outcome):
            forwardAnswered(n, p, requestID: requestID, outcome)
        }
    }

    // MARK: Following

    /// `Replicator.answerAppend`: admit by epoch, check log matching, apply, acknowledge only
    /// what the primary sent.
    private func answerAppend(_ n: Int, _ p: NodeProcess, from: Int, shard: Int, epoch: Int64, prevLSN: Int64, prevTerm: Int64,
                              entries: [LogEntry]) -> AppendReply {
        let admission = p.core.admitAppend(shard: shard, epoch: epoch, from: names[from])
        run(n, p, admission.actions)
        guard admission.admitted else { return .refuse(epoch: p.core.fence(shard)) }
        let disk = nodes[n].disk
        let copy = disk.shards[shard]
        let last = copy.lastLSN
        let check = FollowerCheck.check(senderEpoch: epoch, knownEpoch: epoch, prevLSN: prevLSN, prevTerm: prevTerm,
                                        terms: entries.map(\.term), myLastLSN: last, termAt: { copy.term(at: $0) })
        switch check {
        case .refuse(let e):
            return .refuse(epoch: e)
        case .mismatch:
            return .mismatch(lastLSN: last, lastTerm: copy.lastTerm)
        case .apply(let from):
            let todo = entries.dropFirst(from)
            for entry in todo { disk.shards[shard].append(entry) }
            if !todo.isEmpty {
                stats.appendsApplied += 1
                trim(disk, shard)
            }
            // Only what the primary sent is acknowledged: an older tail of ours beyond it is
            // checked (and dropped) by the next append.
            return .ack(lsn: min(disk.shards[shard].lastLSN, prevLSN + Int64(entries.count)))
        }
    }

    /// `Replicator.answerSnapshotOffer` and the pull it starts, in one step: admit by epoch,
    /// drop the shard's unfinished writes, install the copy, answer with its last LSN.
    private func installSnapshot(_ n: Int, _ p: NodeProcess, from: Int, shard: Int, epoch: Int64, _ copy: ShardCopy) -> AppendReply {
        let admission = p.core.admitAppend(shard: shard, epoch: epoch, from: names[from])
        run(n, p, admission.actions)
        guard admission.admitted else { return .refuse(epoch: p.core.fence(shard)) }
        abandon(n, p, shard)
        let disk = nodes[n].disk
        let before = disk.shards[shard]
        disk.shards[shard] = copy
        stats.snapshotsInstalled += 1
        installedSnapshots.append((names[n], shard, nowMs))
        note(n, "shard \(shard): installed a snapshot from \(names[from]) through entry \(copy.lastLSN) (had \(before.lastLSN), term \(before.lastTerm))")
        return .ack(lsn: copy.lastLSN)
    }

    func trim(_ disk: NodeDisk, _ shard: Int) {
        guard let keep = settings.logKeepEntries, disk.shards[shard].entries.count > keep + settings.logTrimSlack else { return }
        disk.shards[shard].trim(keep: keep)
    }
}
