/// The write path of a simulated node: what `ClusterRouter` (route, forward, retry while
/// there is no primary) and `ShardService` (sequence idempotently into the loop turn's
/// transaction, commit at the end of the turn, hold replies until the replicas have the
/// entry, fail them when the node stops leading) do in the real one.
extension ReplicationSimulation {
    // MARK: Router

    func routerAttempt(_ n: Int, _ p: NodeProcess, _ write: ClientWrite, deadlineMs: Int64) {
        let shard = shard(of: write.conversation)
        guard let primary = p.core.route(shard) else {
            return routerRetry(n, write, deadlineMs: deadlineMs, why: "shard \(shard) has no live primary")
        }
        if primary == names[n] {
            detail(n, "\(write): serving it (shard \(shard))")
            return sequence(n, p, shard, write, requester: .router(write, deadlineMs: deadlineMs))
        }
        let target = indexOf[primary]!
        guard !nodes[target].isCrashed else {
            // The dial is refused at once: `PeerLink` fails the request, the router retries.
            return routerRetry(n, write, deadlineMs: deadlineMs, why: "\(primary): connection refused")
        }
        p.nextRequestID += 1
        p.forwards[p.nextRequestID] = (write, deadlineMs)
        detail(n, "\(write): forwarding to \(primary) (shard \(shard))")
        send(from: n, to: target, .forward(write, requestID: p.nextRequestID, requesterLife: nodes[n].life))
    }

    /// No primary to send to now, or it changed under the request: try again shortly while
    /// the budget lasts, then tell the client.
    private func routerRetry(_ n: Int, _ write: ClientWrite, deadlineMs: Int64, why: String) {
        guard nowMs + settings.routerRetryDelayMs < deadlineMs else {
            return answerClient(n, write, .unavailable(why, retryAfterMs: 1_000))
        }
        schedule(.routerRetry(node: n, life: nodes[n].life, write, deadlineMs: deadlineMs), afterMs: settings.routerRetryDelayMs)
    }

    /// A write another node's router sent here: served only if this node serves the shard.
    func serveForwarded(_ n: Int, _ p: NodeProcess, from: Int, _ write: ClientWrite, requestID: Int, requesterLife: Int) {
        let shard = shard(of: write.conversation)
        let requester = Requester.peer(node: from, requestID: requestID, life: requesterLife)
        guard p.core.serves(shard) else {
            return answer(n, requester, write, .unavailable("shard \(shard) is not served by \(names[n]) now", retryAfterMs: 0))
        }
        sequence(n, p, shard, write, requester: requester)
    }

    func forwardAnswered(_ n: Int, _ p: NodeProcess, requestID: Int, _ outcome: WriteOutcome) {
        guard let request = p.forwards.removeValue(forKey: requestID) else { return }
        if case .unavailable(let why, 0) = outcome {
            return routerRetry(n, request.write, deadlineMs: request.deadlineMs, why: why)
        }
        answerClient(n, request.write, outcome)
    }

    // MARK: Shard service

    /// The conversation's sequencer: idempotent on client_id (a repeat gets the first seq and
    /// stores nothing), otherwise the next seq, written into the turn's open transaction.
    private func sequence(_ n: Int, _ p: NodeProcess, _ shard: Int, _ write: ClientWrite, requester: Requester) {
        let stored = nodes[n].disk.shards[shard].conversation(write.conversation)
        let batch = p.batches[shard]
        let inBatch = batch.lazy.filter { $0.conversation == write.conversation }
        let seq: Int64
        if let first = inBatch.first(where: { $0.clientID == write.clientID })?.seq ?? stored?.seqByClientID[write.clientID] {
            seq = first
            detail(n, "\(write): a repeat of seq \(seq)")
        } else {
            seq = (inBatch.last?.seq ?? stored?.lastSeq ?? 0) + 1
            p.nextMessageID += 1
            p.batches[shard].append(MessageWrite(conversation: write.conversation, seq: seq, clientID: write.clientID,
                                                 messageID: p.nextMessageID, sender: "u\(write.clientID % 97)"))
            detail(n, "\(write): seq \(seq) in the open transaction of shard \(shard)")
        }
        p.pending[shard].append(HeldReply(requester: requester, seq: seq, write: write))
        p.dirty = true
    }

    /// `ShardService.commit`: seal each shard's open transaction as its next log entry (term:
    /// the core's), tell the core, then hold each reply until the replicas have the shard's
    /// newest entry (its own write, or for a repeat the entry before it).
    func commitTurn(_ n: Int, _ p: NodeProcess) {
        p.dirty = false
        let disk = nodes[n].disk
        var committed: [(shard: Int, lsn: Int64)] = []
        for shard in 0..<settings.shardCount where !p.batches[shard].isEmpty {
            let lsn = disk.shards[shard].lastLSN + 1
            disk.shards[shard].append(LogEntry(lsn: lsn, term: p.core.term(shard), writes: p.batches[shard]))
            p.batches[shard] = []
            trim(disk, shard)
            committed.append((shard, lsn))
        }
        for c in committed { run(n, p, p.core.onLocalCommit(shard: c.shard, lsn: c.lsn, nowMs: nowMs)) }
        for shard in 0..<settings.shardCount where !p.pending[shard].isEmpty {
            let done = p.pending[shard]
            p.pending[shard] = []
            let head = disk.shards[shard].lastLSN
            for var reply in done {
                if p.core.released(shard) < head {
                    reply.lsn = head
                    p.waiting[shard].append(reply)
                } else {
                    answer(n, reply.requester, reply.write, .ack(seq: reply.seq))
                }
            }
        }
    }

    /// `ShardService.release`: the replicas hold the shard's entries up to `through`.
    func release(_ n: Int, _ p: NodeProcess, _ shard: Int, through: Int64) {
        let ready = p.waiting[shard].prefix { $0.lsn <= through }
        guard !ready.isEmpty else { return }
        p.waiting[shard].removeFirst(ready.count)
        for reply in ready { answer(n, reply.requester, reply.write, .ack(seq: reply.seq)) }
    }

    /// `ShardService.abandon`: this node stopped leading the shard (or installs a copy of it):
    /// its uncommitted writes are dropped and every reply still held fails `unavailable`.
    func abandon(_ n: Int, _ p: NodeProcess, _ shard: Int) {
        let held = p.pending[shard] + p.waiting[shard]
        if !p.batches[shard].isEmpty || !held.isEmpty {
            note(n, "shard \(shard): dropping \(p.batches[shard].count) uncommitted writes, failing \(held.count) replies")
        }
        p.batches[shard] = []
        p.pending[shard] = []
        p.waiting[shard] = []
        for reply in held {
            answer(n, reply.requester, reply.write, .unavailable("shard \(shard) changed primary; retry", retryAfterMs: 0))
        }
    }

    /// Sends a write's outcome to whoever waits for it on this node.
    private func answer(_ n: Int, _ requester: Requester, _ write: ClientWrite, _ outcome: WriteOutcome) {
        if case .ack(let seq) = outcome, let p = nodes[n].process {
            serviceAcks.append(ServiceAck(sendID: write.sendID, node: names[n], term: p.core.term(shard(of: write.conversation)),
                                          seq: seq, atMs: nowMs))
        }
        switch requester {
        case .router(let write, let deadline):
            if case .unavailable(let why, 0) = outcome { return routerRetry(n, write, deadlineMs: deadline, why: why) }
            answerClient(n, write, outcome)
        case .peer(let node, let requestID, let life):
            send(from: n, to: node, .forwardReply(requestID: requestID, outcome), toLife: life)
        }
    }

    /// The client's connection to this node carries the answer (1 ms).
    private func answerClient(_ n: Int, _ write: ClientWrite, _ outcome: WriteOutcome) {
        schedule(.clientAnswer(write, outcome, node: n), afterMs: 1)
    }
}
