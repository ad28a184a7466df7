/// Decides from the main loop's heartbeat whether gossip may still speak for this node.
///
/// Gossip runs on its own thread so that client load on the main loop cannot starve it: a
/// node busy with clients is slow, not dead (DESIGN.md). That must not hide a node whose main
/// loop is wedged: it serves nobody, and the cluster should fail its shards over. So while the
/// main loop completes turns, however slowly, gossip runs normally; once it has completed none
/// for `stallMs`, gossip goes silent (no datagram answered or sent, no tick: to SWIM it is a
/// paused process), peers suspect it and declare it dead (SWIM 4.2); at the first turn after
/// that, gossip resumes and the late tick is absorbed as a stall (Lifeguard IV-A local health),
/// and it refutes with a higher incarnation as soon as it hears of its death.
///
/// Pure: the caller passes the monotonic time and the heartbeat in.
struct MainLoopWatchdog {
    /// 5 s without a completed main-loop turn means wedged. A legitimate turn is bounded
    /// (256 epoll events, capped reads per socket, one group commit) and takes milliseconds;
    /// 5 s is twice the 2.4 s stall that made the cluster fail a busy node over (issue 8).
    /// It is also `requestTimeoutMs` of the peer protocol: by then every request another node
    /// forwards here is already failing, so a failover (≈ 2.5 s more of SWIM suspicion) only
    /// turns "unavailable until it recovers" into "served by a replica".
    static let defaultStallMs: Int64 = 5_000
    /// An idle main loop completes no turn (it waits in `epoll_wait` with nothing due). After
    /// this long without one, the gossip thread posts it an empty job, so that silence beyond
    /// `stallMs` means wedged, not idle. At most one such poke is in flight.
    static let defaultPokeAfterMs: Int64 = 1_000
    /// How often the gossip thread checks: a stall is noticed within `stallMs` + 250 ms, a
    /// recovery within 250 ms of the loop's next turn.
    static let checkIntervalMs: Int64 = 250

    enum State: Equatable {
        case serving
        /// Silent since `since`; `lastTurnEndMs` is the heartbeat seen then: a later one means
        /// the loop completed a turn again.
        case paused(since: Int64, lastTurnEndMs: Int64)
    }

    enum Action: Equatable {
        case none
        /// Post the main loop an empty job so an idle loop turns (and beats).
        case poke
        /// Stop answering and sending: the main loop completed no turn for `stalledForMs`.
        case pause(stalledForMs: Int64)
        /// The main loop turned again after gossip was silent for `pausedForMs`.
        case resume(pausedForMs: Int64)
    }

    let stallMs: Int64
    let pokeAfterMs: Int64
    private(set) var state: State = .serving

    init(stallMs: Int64 = Self.defaultStallMs, pokeAfterMs: Int64 = Self.defaultPokeAfterMs) {
        precondition(0 < pokeAfterMs && pokeAfterMs < stallMs, "watchdog needs 0 < pokeAfterMs \(pokeAfterMs) < stallMs \(stallMs)")
        self.stallMs = stallMs
        self.pokeAfterMs = pokeAfterMs
    }

    var isPaused: Bool {
        if case .paused = state { return true }
        return false
    }

    /// `lastTurnEndMs`: when the main loop last completed a turn (same monotonic clock as `now`).
    mutating func check(now: Int64, lastTurnEndMs: Int64) -> Action {
        let silentMs = now - lastTurnEndMs
        switch state {
        case .serving:
            if silentMs >= stallMs {
                state = .paused(since: now, lastTurnEndMs: lastTurnEndMs)
                return .pause(stalledForMs: silentMs)
            }
            return silentMs >= pokeAfterMs ? .poke : .none
        case let .paused(since, seen):
            if lastTurnEndMs > seen {
                state = .serving
                return .resume(pausedForMs: now - since)
            }
            return .poke
        }
    }
}
