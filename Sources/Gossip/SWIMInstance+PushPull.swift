/// Full state exchange (memberlist's push-pull, over UDP): on join, every
/// `pushPullIntervalMs` with a random member, and every `deadReconnectIntervalMs` with a
/// random dead one (the reconnect attempt that heals a partition).
extension SWIMInstance {
    /// Our whole view, this node included, split over as many datagrams as needed,
    /// each ≤ `maxDatagramBytes`.
    mutating func sendPushPull(to address: String, isReply: Bool, out: inout [Directive]) {
        let budget = settings.maxDatagramBytes - GossipCodec.pushPullHeaderMaxBytes
        var parts: [[Member]] = [[]]
        var used = 0
        for m in members {
            let size = GossipCodec.encode(entry: m).count
            if used + size > budget, !(parts[parts.count - 1].isEmpty) {
                parts.append([])
                used = 0
            }
            parts[parts.count - 1].append(m)
            used += size
        }
        let count = UInt16(min(parts.count, Int(UInt16.max)))
        for (i, part) in parts.prefix(Int(count)).enumerated() {
            let p = PushPull(isReply: isReply, part: UInt16(i), partCount: count, source: me, members: part)
            out.append(.send(to: address, bytes: GossipCodec.encode(.pushPull(p), encodedUpdates: [])))
        }
    }

    mutating func onPushPull(_ p: PushPull, from address: String, now: Instant, out: inout [Directive]) {
        guard p.source != me else { return }
        for m in p.members { merge(m, reportedBy: p.source, now: now, out: &out) }
        joining = .joined
        if !p.isReply, p.part == 0, !hasLeft {
            sendPushPull(to: address, isReply: true, out: &out)
        }
    }

    /// One remote entry. As in memberlist's mergeState, a remote "dead" only makes us
    /// suspect: the sender's view may be stale, and the member gets its chance to refute.
    private mutating func merge(_ m: Member, reportedBy source: MemberID, now: Instant, out: inout [Directive]) {
        let kind: MemberUpdate.Kind
        switch m.status {
        case .alive: kind = .alive(meta: m.meta)
        case .suspect, .dead: kind = .suspect(accuser: source.name)
        case .left: kind = .left
        }
        if m.status == .suspect, m.id != me, table[m.id] == nil {
            // Unknown and suspect: take it in, then suspect it like the sender does.
            apply(MemberUpdate(id: m.id, incarnation: m.incarnation, kind: .alive(meta: m.meta)), now: now, out: &out)
        }
        apply(MemberUpdate(id: m.id, incarnation: m.incarnation, kind: kind), now: now, out: &out)
    }

    mutating func exchangeStateIfDue(now: Instant, out: inout [Directive]) {
        guard !hasLeft else { return }
        if case let .joining(seeds, retryAt) = joining, now >= retryAt {
            for seed in seeds { sendPushPull(to: seed, isReply: false, out: &out) }
            joining = .joining(seeds: seeds, retryAt: now.adding(ms: settings.joinRetryIntervalMs))
        }
        if let due = nextDeadReconnectAt, now >= due {
            nextDeadReconnectAt = now.adding(ms: settings.deadReconnectIntervalMs)
            if let lost = randomMembers(1, where: { $0.status == .dead }).first {
                sendPushPull(to: lost.address, isReply: false, out: &out)
            }
        } else if nextDeadReconnectAt == nil {
            nextDeadReconnectAt = now.adding(ms: settings.deadReconnectIntervalMs)
        }
        guard let due = nextPushPullAt else {
            nextPushPullAt = now.adding(ms: settings.pushPullIntervalMs)
            return
        }
        guard now >= due else { return }
        nextPushPullAt = now.adding(ms: settings.pushPullIntervalMs)
        if let peer = randomMembers(1, where: { $0.status == .alive }).first {
            sendPushPull(to: peer.address, isReply: false, out: &out)
        }
    }
}
