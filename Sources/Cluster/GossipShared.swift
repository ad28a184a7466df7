import Synchronization

/// Gossip's figures for `/v1/cluster` ("local"), written by the gossip thread.
struct GossipCounters: Sendable, Equatable {
    var datagramsSent = 0
    var bytesSent = 0
    /// Opened (authentic, bound to their source, fresh) and handed to SWIM.
    var datagramsAccepted = 0
    /// Too short, another envelope format, or a tag that does not match.
    var rejectedBadTag = 0
    /// Authentic, but sent from another address than the sender binding names.
    var rejectedWrongSender = 0
    /// Authentic and from the right address, but a stamp already seen or older than the window.
    var rejectedReplays = 0
    /// Opened, then refused by SWIM's decoder (a member on another wire version).
    var undecodable = 0
    /// Received while the watchdog held gossip silent; not even opened.
    var droppedWhilePaused = 0
    /// Times the watchdog silenced gossip because the main loop stopped turning.
    var pauses = 0
    var paused = false
    /// Lifeguard's local health multiplier (0 when healthy).
    var localHealth = 0

    /// Datagrams the envelope refused (the long-standing `gossip_rejected_datagrams`).
    var rejected: Int { rejectedBadTag + rejectedWrongSender + rejectedReplays }
}

/// What the main loop and the gossip thread share, Sendable by construction: the main loop's
/// heartbeat, the watchdog's poke in flight, and the counters.
final class GossipShared: Sendable {
    private let lastTurnEndMs: Atomic<Int64>
    private let pokeInFlight = Atomic<Bool>(false)
    private let state = Mutex(GossipCounters())

    init(nowMs: Int64) {
        lastTurnEndMs = Atomic(nowMs)
    }

    /// Main loop, at the end of each turn and when a poke arrives.
    func mainLoopTurned(atMs ms: Int64) {
        lastTurnEndMs.store(ms, ordering: .releasing)
    }

    /// Gossip thread.
    var lastMainLoopTurnMs: Int64 { lastTurnEndMs.load(ordering: .acquiring) }

    /// Gossip thread: true when no poke is in flight, and now one is: the caller posts it.
    /// Bounds the pokes a wedged loop accumulates to one.
    func claimPoke() -> Bool {
        pokeInFlight.compareExchange(expected: false, desired: true, ordering: .acquiringAndReleasing).exchanged
    }

    /// Main loop, running the poke.
    func pokeArrived(atMs ms: Int64) {
        mainLoopTurned(atMs: ms)
        pokeInFlight.store(false, ordering: .releasing)
    }

    /// Any thread: a consistent snapshot.
    var counters: GossipCounters { state.withLock { $0 } }

    /// Gossip thread.
    func count(_ change: (inout GossipCounters) -> Void) {
        state.withLock { change(&$0) }
    }
}
