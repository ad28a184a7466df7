import Simulation

/// Faults and membership: crashing, restarting, pausing and resuming nodes, partitions and
/// link faults, and the oracle's sweep that turns them into each node's view of who is alive.
extension ReplicationSimulation {
    public func perform(_ fault: Fault) {
        note(nil, "fault: \(fault)")
        switch fault {
        case .crash(let n):
            guard !nodes[n].isCrashed else { return }
            if let p = nodes[n].process { harvest(p) }
            stats.crashes += 1
            nodes[n].life += 1
            nodes[n].status = .crashed
            // kill -9: what was committed stays on the disk, nothing else does; the kernel
            // closes its sockets, so every request waiting on it fails.
            nodes[n].disk.files.crash()
            for other in nodes where other.index != n { other.process?.peer.connectionBroke(with: n) }
        case .restart(let n):
            guard nodes[n].isCrashed else { return }
            restart(n)
        case .pause(let n):
            guard case .running(let p) = nodes[n].status else { return }
            stats.pauses += 1
            nodes[n].status = .paused(p, backlog: [])
        case .resume(let n, let dropBacklog):
            resume(n, dropBacklog: dropBacklog)
        case .partition(let groups):
            stats.partitions += 1
            network.partition(groups.map { $0.map { names[$0] } })
        case .heal:
            network.heal()
        case .loss(let p):
            network.defaultLink.dropProbability = p
        case .noLoss:
            network.defaultLink.dropProbability = settings.link.dropProbability
        case .slow(let n, let delay):
            slowNodes[n] = delay
            applySlowLinks()
        case .fast(let n):
            slowNodes[n] = nil
            applySlowLinks()
        case .linkLoss(let a, let b, let p):
            stats.oneWayFaults += 1
            linkLoss[LinkKey(from: a, to: b)] = p
            applySlowLinks()
        case .linkRestored(let a, let b):
            linkLoss[LinkKey(from: a, to: b)] = nil
            applySlowLinks()
        case .healAll:
            network.heal()
            network.defaultLink.dropProbability = settings.link.dropProbability
            slowNodes = [:]
            linkLoss = [:]
            applySlowLinks()
            for n in nodes.indices {
                if nodes[n].isPaused { resume(n, dropBacklog: false) }
                if nodes[n].isCrashed { restart(n) }
            }
        }
    }

    private func restart(_ n: Int) {
        for peer in nodes.indices { linkBroken[n][peer] = false }
        // It joins through a seed and learns the membership at once; its peers see it back
        // after their detection delay. Connections come up both ways: tables are exchanged.
        oracle.reset(observer: n) { $0 == n || (isUp($0) && network.canReach(from: names[n], to: names[$0])) }
        boot(n)
        for peer in nodes.indices where peer != n && nodes[peer].isRunning && network.canReach(from: names[n], to: names[peer]) {
            peerUp(n, peer)
            peerUp(peer, n)
        }
    }

    private func resume(_ n: Int, dropBacklog: Bool) {
        guard case .paused(let p, let backlog) = nodes[n].status else { return }
        nodes[n].status = .running(p)
        let kept = dropBacklog ? backlog.filter { !$0.isMessage } : backlog
        if dropBacklog { stats.messagesLost += backlog.count - kept.count }
        note(n, "resumes with \(kept.count) events waiting (\(backlog.count - kept.count) lost)")
        if dropBacklog {
            // The peers had closed their connections to it: requests either side sent over them
            // fail (`PeerError.closed`), as over TCP, instead of waiting out their timeouts for
            // answers that were in the dropped backlog.
            nodes[n].process.map { p in for peer in nodes.indices where peer != n { p.peer.connectionBroke(with: peer) } }
            for other in nodes where other.index != n { other.process?.peer.connectionBroke(with: n) }
            // They redial, and so does it.
            for peer in nodes.indices where peer != n && nodes[peer].isRunning && network.canReach(from: names[n], to: names[peer]) {
                peerUp(peer, n)
                peerUp(n, peer)
            }
        }
        for event in kept {
            switch event {
            case .deliver(_, let life, _, _), .clientArrives(_, let life, _), .timer(_, let life, _), .scriptArrives(_, let life, _):
                atNode(n, life: life, event)
            default:
                preconditionFailure("not a node event in a backlog: \(event)")
            }
        }
    }

    /// The per-link overrides from the slow nodes and the one-way faults in force.
    private func applySlowLinks() {
        network.clearLinkOverrides()
        var links: [LinkKey: LinkFaults] = [:]
        for (n, delay) in slowNodes.sorted(by: { $0.key < $1.key }) {
            let link = LinkFaults(dropProbability: settings.link.dropProbability, minDelayMs: delay / 2, maxDelayMs: delay)
            for peer in nodes.indices where peer != n {
                links[LinkKey(from: n, to: peer)] = link
                links[LinkKey(from: peer, to: n)] = link
            }
        }
        for (key, p) in linkLoss {
            var link = links[key] ?? settings.link
            link.dropProbability = max(link.dropProbability, p)
            links[key] = link
        }
        for (key, link) in links.sorted(by: { ($0.key.from, $0.key.to) < ($1.key.from, $1.key.to) }) {
            network.setLink(from: names[key.from], to: names[key.to], link)
        }
    }

    /// Up: running (a paused or crashed node answers nobody's probes).
    func isUp(_ n: Int) -> Bool { nodes[n].isRunning }

    func membershipSweep() {
        let changes = oracle.sweep(nowMs: nowMs, observing: { nodes[$0].isRunning },
                                   truth: { isUp($1) && network.canReach(from: names[$0], to: names[$1]) }, rng: &memberRng)
        guard !changes.isEmpty else { return }
        var changed: [Int] = []
        for change in changes {
            detail(change.observer, "sees \(names[change.target]) \(change.alive ? "alive" : "dead")")
            if changed.last != change.observer { changed.append(change.observer) }
        }
        for observer in changed { setMembers(observer) }
        for change in changes where change.alive { peerUp(change.observer, change.target) }
    }
}
