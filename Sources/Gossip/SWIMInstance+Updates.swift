/// Applying membership news (SWIM 4.2's precedence rules) and disseminating it (SWIM 4.1).
///
/// For another member, news at incarnation i is taken when:
/// - alive(i): i > current incarnation (whatever the status);
/// - suspect(i): the member is alive or suspect and i ≥ current (equal and already
///   suspect: a confirmation from a new accuser, Lifeguard IV-B);
/// - dead(i), left(i): alive/suspect and i ≥ current; dead and i > current (or left at the
///   same i: the member's own word wins); left and i > current.
/// News about ourselves that we are suspect, dead or left at i ≥ ours is refuted by
/// announcing alive(i + 1).
extension SWIMInstance {
    mutating func apply(_ u: MemberUpdate, now: Instant, out: inout [Directive]) {
        if u.id == me {
            applyAboutMe(u)
            return
        }
        guard var e = table[u.id] else {
            admit(u, now: now, out: &out)
            return
        }
        let current = e.member
        if u.incarnation < current.incarnation, current.status == .alive {
            // A stale accusation: its sender missed a refutation. Gossip the refutation
            // again, or the accusation could outlive it and expire into a false death.
            if case .alive = u.kind {} else {
                broadcasts.enqueue(MemberUpdate(id: u.id, incarnation: current.incarnation, kind: .alive(meta: current.meta)))
            }
            return
        }
        switch u.kind {
        case let .alive(meta):
            guard u.incarnation > current.incarnation else { return }
            e.member.incarnation = u.incarnation
            e.member.status = .alive
            e.member.meta = meta
            e.suspicion = nil
            let changed = current.status != .alive || current.meta != meta
            if changed { e.changedAt = now }
            table[u.id] = e
            if current.status.isInCluster == false { probeOrder.insert(u.id, rng: &rng) }
            if changed { announce(e.member, out: &out) }
            broadcasts.enqueue(u)

        case let .suspect(accuser):
            guard current.status.isInCluster, u.incarnation >= current.incarnation else { return }
            if current.status == .suspect, u.incarnation == current.incarnation {
                if e.suspicion?.confirm(by: accuser) == true {
                    table[u.id] = e
                    broadcasts.enqueue(u)  // pass the confirmation on: others count it too
                }
                return
            }
            let n = clusterSize
            e.member.status = .suspect
            e.member.incarnation = u.incarnation
            e.suspicion = Suspicion(
                startedAt: now,
                accuser: accuser,
                minMs: settings.suspicionMinMs(clusterSize: n),
                maxMs: settings.suspicionMaxMs(clusterSize: n),
                wanted: settings.confirmationsWanted(clusterSize: n)
            )
            e.changedAt = now
            table[u.id] = e
            if current.status != .suspect { announce(e.member, out: &out) }
            broadcasts.enqueue(u)

        case .dead, .left:
            let isLeft = u.kind == .left
            let accept = switch current.status {
            case .alive, .suspect: u.incarnation >= current.incarnation
            case .dead: u.incarnation > current.incarnation || (isLeft && u.incarnation == current.incarnation)
            case .left: u.incarnation > current.incarnation
            }
            guard accept else { return }
            e.member.status = isLeft ? .left : .dead
            e.member.incarnation = u.incarnation
            e.suspicion = nil
            e.changedAt = now
            table[u.id] = e
            if current.status != e.member.status { announce(e.member, out: &out) }
            broadcasts.enqueue(u)
        }
    }

    /// News about a member we do not know: only "alive" (with its metadata) admits it.
    private mutating func admit(_ u: MemberUpdate, now: Instant, out: inout [Directive]) {
        guard case let .alive(meta) = u.kind, table.count < settings.maxMembers, u.id.isEncodable else { return }
        let member = Member(id: u.id, status: .alive, incarnation: u.incarnation, meta: meta)
        table[u.id] = MemberEntry(member: member, suspicion: nil, changedAt: now)
        let i = ids.firstIndex { u.id < $0 } ?? ids.count
        ids.insert(u.id, at: i)
        probeOrder.insert(u.id, rng: &rng)
        announce(member, out: &out)
        broadcasts.enqueue(u)
    }

    private mutating func applyAboutMe(_ u: MemberUpdate) {
        guard !hasLeft else { return }
        guard u.incarnation >= incarnation else {
            // A stale accusation: its sender missed our refutation, so repeat it.
            if case .alive = u.kind {} else {
                broadcasts.enqueue(MemberUpdate(id: me, incarnation: incarnation, kind: .alive(meta: meta)))
            }
            return
        }
        switch u.kind {
        case .alive:
            // Someone remembers us at a higher incarnation (we restarted): outbid it.
            if u.incarnation > incarnation { refute(beyond: u.incarnation) }
        case .suspect, .dead, .left:
            refute(beyond: u.incarnation)
            // Lifeguard IV-A: being suspected hints that we are the slow one.
            health.apply(delta: 1)
        }
    }

    private mutating func refute(beyond observed: UInt64) {
        incarnation = observed + 1
        broadcasts.enqueue(MemberUpdate(id: me, incarnation: incarnation, kind: .alive(meta: meta)))
    }

    private mutating func announce(_ member: Member, out: inout [Directive]) {
        version += 1
        out.append(.memberChanged(member))
    }

    /// Suspicions past their deadline become deaths (SWIM 4.2).
    mutating func expireSuspicions(now: Instant, out: inout [Directive]) {
        for id in ids {
            guard let e = table[id], let s = e.suspicion, now >= s.deadline else { continue }
            apply(MemberUpdate(id: id, incarnation: e.member.incarnation, kind: .dead), now: now, out: &out)
        }
    }

    /// Forget dead and left members after `deadMemberRetentionMs`.
    mutating func reapDeparted(now: Instant) {
        let expired = ids.filter { id in
            guard let e = table[id], !e.member.status.isInCluster else { return false }
            return now.ms - e.changedAt.ms >= settings.deadMemberRetentionMs
        }
        for id in expired {
            table[id] = nil
            probeOrder.remove(id)
        }
        if !expired.isEmpty { ids.removeAll { table[$0] == nil } }
    }

    /// The gossip timer: queued news to `gossipFanout` random members.
    mutating func gossipIfDue(now: Instant, out: inout [Directive]) {
        guard !broadcasts.isEmpty else { return }
        if let last = lastGossipAt, now.ms - last.ms < settings.gossipIntervalMs { return }
        lastGossipAt = now
        let targets = randomMembers(settings.gossipFanout) { $0.status.isInCluster }
        guard !targets.isEmpty else {
            // Alone: nobody to tell; a later join's state exchange carries everything.
            broadcasts = BroadcastQueue()
            return
        }
        for target in targets where !broadcasts.isEmpty {
            send(.gossip, to: target.address, out: &out)
        }
    }
}
