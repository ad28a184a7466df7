/// The failure detector: probe rounds, indirect probes, relays and nacks.
extension SWIMInstance {
    /// SWIM 3.1 with Lifeguard IV-A: each round pings one member; no ack within the
    /// (health-scaled) timeout asks `indirectProbes` members to ping it; no ack by the
    /// round's end makes it suspect.
    mutating func advanceProbe(now: Instant, out: inout [Directive]) {
        guard !hasLeft else { return }
        if case var .direct(round) = probe, now >= round.timeoutAt {
            let helpers = randomMembers(settings.indirectProbes) {
                $0.status == .alive && $0.id != round.target
            }
            for helper in helpers {
                send(.pingReq(seq: round.seq, source: me, target: round.target), to: helper.address, out: &out)
            }
            round.expectedNacks = helpers.count
            probe = .indirect(round)
        }
        if case let .indirect(round) = probe, now >= round.endsAt {
            concludeFailedRound(round, now: now, out: &out)
        }
        if case let .idle(at) = probe, now >= at {
            startRound(now: now, out: &out)
        }
    }

    private mutating func startRound(now: Instant, out: inout [Directive]) {
        let candidates = { [ids, table] in ids.filter { table[$0]?.member.status.isInCluster == true } }
        let inCluster = { [table] (id: MemberID) in table[id]?.member.status.isInCluster == true }
        guard let target = probeOrder.next(candidates: candidates, isProbeable: inCluster, rng: &rng) else {
            probe = .idle(nextProbeAt: now.adding(ms: health.scale(settings.probeIntervalMs)))
            return
        }
        let seq = takeSeq()
        var front: [MemberUpdate] = []
        // Lifeguard IV-C buddy system: a suspect we probe hears of it first-hand and can refute.
        if let e = table[target], e.member.status == .suspect {
            front.append(MemberUpdate(id: target, incarnation: e.member.incarnation, kind: .suspect(accuser: me.name)))
        }
        send(.ping(seq: seq, source: me, target: target), to: target.address, front: front, out: &out)
        probe = .direct(ProbeRound(
            target: target,
            seq: seq,
            timeoutAt: now.adding(ms: health.scale(settings.probeTimeoutMs)),
            endsAt: now.adding(ms: health.scale(settings.probeIntervalMs))
        ))
    }

    private mutating func concludeFailedRound(_ round: ProbeRound, now: Instant, out: inout [Directive]) {
        // Lifeguard IV-A: missing nacks mean our own links or CPU are at fault, not the
        // target's; with no helper to judge by, the failure itself counts against us.
        let delta = round.expectedNacks > 0 ? max(0, round.expectedNacks - round.nacks) : 1
        health.apply(delta: delta)
        probe = .idle(nextProbeAt: round.endsAt)
        if let e = table[round.target], e.member.status.isInCluster {
            let accusation = MemberUpdate(id: round.target, incarnation: e.member.incarnation, kind: .suspect(accuser: me.name))
            apply(accusation, now: now, out: &out)
        }
    }

    mutating func onAck(seq: UInt32, source: MemberID, now: Instant, out: inout [Directive]) {
        switch probe {
        case let .direct(round) where round.seq == seq, let .indirect(round) where round.seq == seq:
            health.apply(delta: -1)
            probe = .idle(nextProbeAt: round.endsAt)
        default:
            if let i = relays.firstIndex(where: { $0.seq == seq }) {
                let relay = relays.remove(at: i)
                send(.ack(seq: relay.requesterSeq, source: source), to: relay.requesterAddress, out: &out)
            }
        }
    }

    mutating func onNack(seq: UInt32) {
        if case var .indirect(round) = probe, round.seq == seq, round.nacks < round.expectedNacks {
            round.nacks += 1
            probe = .indirect(round)
        }
    }

    /// SWIM 3.1 ping-req: ping `target` for `requester`; Lifeguard IV-A: nack it if the target
    /// stays silent for `nackTimeoutPercent` of the probe timeout.
    mutating func onPingReq(
        seq: UInt32, requester: MemberID, requesterAddress: String, target: MemberID,
        now: Instant, out: inout [Directive]
    ) {
        guard requester != me else { return }
        if target == me {
            send(.ack(seq: seq, source: me), to: requesterAddress, out: &out)
            return
        }
        guard relays.count < settings.maxPendingRelays else { return }
        let ownSeq = takeSeq()
        send(.ping(seq: ownSeq, source: me, target: target), to: target.address, out: &out)
        relays.append(Relay(
            seq: ownSeq,
            requesterAddress: requesterAddress,
            requesterSeq: seq,
            nackAt: now.adding(ms: settings.probeTimeoutMs * Int64(settings.nackTimeoutPercent) / 100),
            expiresAt: now.adding(ms: settings.probeIntervalMs)
        ))
    }

    mutating func expireRelays(now: Instant, out: inout [Directive]) {
        for i in relays.indices where !relays[i].nackSent && now >= relays[i].nackAt {
            relays[i].nackSent = true
            send(.nack(seq: relays[i].requesterSeq, source: me), to: relays[i].requesterAddress, out: &out)
        }
        relays.removeAll { now >= $0.expiresAt }
    }

    /// Our timer fired far too late: this process was stopped or starved (a GC pause,
    /// SIGSTOP, an overloaded host). What went unanswered meanwhile is our fault, not the
    /// peers': drop the current round instead of accusing its target, give suspicions a
    /// probe timeout to hear the refutations waiting in our socket buffer, and count it
    /// against our health (Lifeguard IV-A's spirit).
    mutating func absorbStall(now: Instant) {
        health.apply(delta: 1)
        if case .idle = probe {} else { probe = .idle(nextProbeAt: now) }
        let grace = now.adding(ms: settings.probeTimeoutMs)
        for id in ids where table[id]?.suspicion != nil {
            table[id]?.suspicion?.holdUntil(grace)
        }
    }

    private mutating func takeSeq() -> UInt32 {
        defer { nextSeq &+= 1 }
        return nextSeq
    }
}
