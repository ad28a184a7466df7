import Chat
import Cluster
import Gossip
import Peer
import Replication
import Ring
import Store

/// The nodes' processes: the production shells wired to the simulated clock, network and
/// disk, as `ClusterNode` wires them to the event loop, `PeerTransport` and shard files.
extension ReplicationSimulation {
    // MARK: Booting

    /// Starts a new life of node `n` on its disk: what a restart after kill -9 does. `start`
    /// false: made, not started (the founders are all made before any of them starts, as a
    /// new cluster's nodes start within moments of each other).
    func boot(_ n: Int, start: Bool = true) {
        nodes[n].life += 1
        let life = nodes[n].life
        let disk = nodes[n].disk
        let name = names[n]
        let timers = SimTimers(sim: self, node: n, life: life)
        let peer = SimPeer(sim: self, node: n, life: life, timers: timers)
        disk.files.runner = SimWork(timers: timers)
        let views = ViewBox(view(seenBy: n))
        let service = ShardService(nodeID: name, files: disk.files, shardMap: shardMap,
                                   random: SeededRandom(seed: seed &+ UInt64(n) << 32 &+ UInt64(life)),
                                   clock: { [unowned timers] in timers.nowMs },
                                   schedule: { [unowned timers] delay, fn in timers.schedule(afterMs: delay, fn) })
        let replicator: Replicator
        do {
            replicator = try Replicator(me: name, loop: timers, files: disk.files, service: service, peer: peer, store: disk.config,
                                        view: { views.view }, initial: { [unowned self] in initialConfig($0) },
                                        log: { [unowned self] text in note(n, text) })
        } catch {
            preconditionFailure("\(name) cannot start: \(error)")
        }
        let router = ClusterRouter(me: name, loop: timers, service: service, shardMap: shardMap, peer: peer, routes: replicator)
        service.attach(router: router)
        let process = NodeProcess(timers: timers, peer: peer, service: service, replicator: replicator, router: router,
                                  dispatch: PeerDispatch(replicator: replicator, router: router, directory: nil), views: views)
        let watcher = NodeWatcher(sim: self, node: n)
        process.watcher = watcher
        replicator.observer = watcher
        service.observer = watcher
        nodes[n].status = .running(process)
        if start { replicator.start() }
    }

    /// What node `n`'s gossip would show: every node of the config (they all hold ring
    /// positions from the start), alive or dead as the oracle says `n` sees it.
    func view(seenBy n: Int) -> ClusterView {
        let meta = NodeMeta(client: "", peer: "", joinedAt: 0).encoded()
        var view = ClusterView(me: .init(id: names[n], gossip: names[n], status: .alive, incarnation: 0, meta: NodeMeta.decode(meta)),
                               shardCount: settings.shardCount, replication: settings.replication)
        for other in nodes.indices where other != n {
            view.update(Member(id: MemberID(name: names[other], address: names[other]),
                               status: oracle.sees(n, other) ? .alive : .dead, incarnation: 0, meta: meta))
        }
        return view
    }

    /// Hands node `n`'s current view of who is alive to its replication shell.
    func setMembers(_ n: Int) {
        guard let p = nodes[n].process else { return }
        p.views.view = view(seenBy: n)
        p.replicator.membershipChanged()
    }

    /// `n`'s connection to `peer` came up: it sends its table of committed configs.
    func peerUp(_ n: Int, _ peer: Int) {
        guard case .running(let p) = nodes[n].status else { return }
        p.replicator.peerUp(names[peer])
    }

    // MARK: Messages

    func receive(_ n: Int, _ p: NodeProcess, from: Int, _ message: NodeMessage) {
        switch message {
        case .request(let id, let operation, let payload, let requesterLife):
            let life = nodes[n].life
            p.dispatch.request(from: names[from], operation: operation, payload: payload) { [weak self] result in
                guard let self, nodes[n].life == life, !nodes[n].isCrashed else { return }
                let answer = result.mapError { PeerError.remote($0.message) }
                send(from: n, to: from, .response(id: id, answer), toLife: requesterLife)
            }
        case .response(let id, let result):
            p.peer.answered(id, result)
        case .oneway(let operation, let payload):
            p.dispatch.message(from: names[from], operation: operation, payload: payload)
        }
    }

    // MARK: Client writes

    /// A client's attempt arrives at node `n`, which does what its front (`ChatService.send`)
    /// does: a direct chat this process has not seen open is looked up and, if missing, opened
    /// (its indexes written through the outbox); then the message goes to the conversation's
    /// shard. All through the node's real router.
    func clientArrived(_ n: Int, _ p: NodeProcess, _ write: ClientWrite) {
        let id = conversationID(write.conversation)
        let members = conversationMembers(write.conversation)
        let message = NewMessage(conversationID: id, sender: write.clientID % 2 == 0 ? members.0 : members.1,
                                 clientID: "c\(write.clientID)", kind: .text, body: "m\(write.clientID)", attachments: [],
                                 tip: nil, origin: nil)
        let send: () -> Void = { [weak self, weak p] in
            p?.router.call(SendMessage(message)) { [weak self] result in
                switch result {
                case .success(let ack): self?.answerClient(n, write, .ack(seq: ack.seq))
                case .failure(let error):
                    self?.answerClient(n, write, .unavailable(error.message, retryAfterMs: error.retryAfterMs ?? 500))
                }
            }
        }
        guard !p.openChats.contains(write.conversation) else { return send() }
        let failed: (ChatError) -> Void = { [weak self] error in
            self?.answerClient(n, write, .unavailable("open: \(error.message)", retryAfterMs: error.retryAfterMs ?? 500))
        }
        p.router.call(ConversationExists(conversationID: id)) { [weak p] exists in
            guard let p else { return }
            switch exists {
            case .failure(let error): return failed(error)
            case .success(true):
                p.openChats.insert(write.conversation)
                return send()
            case .success(false): break
            }
            p.router.call(OpenDirect(conversationID: id)) { [weak p] opened in
                if case .failure(let error) = opened { return failed(error) }
                p?.openChats.insert(write.conversation)
                send()
            }
        }
    }

    /// The client's connection to this node carries the answer (1 ms).
    private func answerClient(_ n: Int, _ write: ClientWrite, _ outcome: WriteOutcome) {
        schedule(.clientAnswer(write, outcome, node: n), afterMs: 1)
    }

    // MARK: What the checker watches

    /// Adds a process's counters to the run's (when it dies, and at the end of the run).
    func harvest(_ p: NodeProcess) {
        stats.routerRetries += p.router.retries
        stats.refusedWhileInstalling += p.replicator.refusedWhileInstalling
        stats.jobSteps += p.service.outbox.stepsRun
    }

    /// Online check of the rule every ack rests on: when a primary releases entries, every
    /// isr member of its config holds them (the same entry at `through`).
    func checkRelease(_ n: Int, shard: Int, through: Int64, config: ShardConfig) {
        let mine = logPosition(shard, on: names[n])
        guard through <= mine.lastLSN else {
            return violate(.releasedBeyondIsr, "shard \(shard): \(names[n]) released through \(through) beyond its own log (\(mine.lastLSN))")
        }
        let term = mine.term(through)
        // The copies that exist: every node whose log holds this very entry. A node that
        // trimmed its log past it holds it in its rows (its term cannot be compared any more;
        // a copy that diverged is caught at the end, `copiesDiverge`), as the isr check below.
        let aliveSeen = oracle.alive(seenBy: n).count
        let holders = names.filter { name in
            let theirs = logPosition(shard, on: name)
            guard theirs.lastLSN >= through else { return false }
            guard let term, let other = theirs.term(through) else { return true }
            return other == term
        }
        if holders.count < min(settings.replication, aliveSeen) {
            violate(.releasedUnderR, "shard \(shard): \(names[n]) (\(config)) released through \(through) held by \(holders) while it saw \(aliveSeen) nodes alive (R = \(settings.replication))")
        }
        for name in config.isr where name != names[n] {
            let theirs = logPosition(shard, on: name)
            if theirs.lastLSN < through {
                violate(.releasedBeyondIsr, "shard \(shard): \(names[n]) (\(config)) released through \(through) but \(name) holds only \(theirs.lastLSN)")
            } else if let term, let other = theirs.term(through), other != term {
                violate(.releasedBeyondIsr, "shard \(shard): \(names[n]) (\(config)) released through \(through) (term \(term)) but \(name) holds term \(other) there")
            }
        }
    }

    /// The register's history, checked as it grows: one config per epoch, ever.
    func recordCommitted(_ shard: Int, _ config: ShardConfig, by n: Int) {
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

    func recordAck(_ n: Int, shard: Int, clientID: String, seq: Int64) {
        guard clientID.hasPrefix("c"), let client = Int(clientID.dropFirst()), let p = nodes[n].process else { return }
        let sendID = client - 1
        serviceAcks.append(ServiceAck(sendID: sendID, node: names[n], term: p.core.term(shard), seq: seq, atMs: nowMs))
    }
}

/// The membership a process's shells read (`Replicator.view`), replaced on each change.
final class ViewBox {
    var view: ClusterView
    init(_ view: ClusterView) { self.view = view }
}

/// One process's observer: what its shells decide, handed to the simulation's checks.
final class NodeWatcher: ReplicatorObserver, ShardServiceObserver {
    unowned let sim: ReplicationSimulation
    let node: Int

    init(sim: ReplicationSimulation, node: Int) {
        self.sim = sim
        self.node = node
    }

    func released(shard: Int, through: Int64, config: ShardConfig) {
        sim.checkRelease(node, shard: shard, through: through, config: config)
    }

    func committed(shard: Int, config: ShardConfig) { sim.recordCommitted(shard, config, by: node) }

    func steppedDown(shard: Int) { sim.stats.stepDowns += 1 }

    func installedSnapshot(shard: Int, from: String) {
        sim.stats.snapshotsInstalled += 1
        sim.installedSnapshots.append((sim.names[node], shard, sim.nowMs))
    }

    func delivered<Op: ShardOperation>(_ op: Op, _ result: Result<Op.Reply, ChatError>, shard: Int) {
        guard let send = op as? SendMessage, case .success(let reply) = result, let ack = reply as? Ack else { return }
        sim.recordAck(node, shard: shard, clientID: send.message.clientID, seq: ack.seq)
    }
}
