/// This node's own view of each link to a peer, from its requests' answers (issue 10:
/// replication must act on what it sees, not only on gossip, which a one-way cut or heavy loss
/// fools through indirect probes). A peer is unreachable once a request to it has gone
/// unanswered for `timeoutMs` and nothing has been answered since; any answer (a result or
/// the peer's own error) makes it reachable again. Time is passed in.
struct LinkWatch {
    /// 1.5 s: the follower timeout of `ShardPrimary`, several heartbeats (600 ms) and many
    /// round trips; short enough that a stand-in takes a cut follower's place within ~3 s.
    static let timeoutMs: Int64 = 1_500
    /// Peers seen unreachable are probed this often (`ClusterOp.linkProbe`), so a healed link
    /// is noticed though nothing else is sent on it any more.
    static let probeEveryMs: Int64 = 500

    /// Since when each peer has had a request without an answer.
    private var waitingSince: [String: Int64] = [:]

    mutating func sent(to peer: String, atMs now: Int64) {
        if waitingSince[peer] == nil { waitingSince[peer] = now }
    }

    mutating func answered(by peer: String) { waitingSince[peer] = nil }

    /// A peer that left the cluster or restarted: forget what we waited for.
    mutating func forget(_ peer: String) { waitingSince[peer] = nil }

    func unreachable(atMs now: Int64) -> Set<String> {
        Set(waitingSince.filter { now - $0.value >= Self.timeoutMs }.keys)
    }
}
