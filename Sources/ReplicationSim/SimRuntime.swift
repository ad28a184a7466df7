import Net
import Peer
import Store

/// A process's clock and timers on the simulation's timeline: `Timers` for the production
/// shells. A timer is an event addressed to the process's life, so a crash cancels them all.
final class SimTimers: Timers {
    unowned let sim: ReplicationSimulation
    let node: Int
    let life: Int
    private var callbacks: [UInt64: () -> Void] = [:]
    private var next: UInt64 = 1

    init(sim: ReplicationSimulation, node: Int, life: Int) {
        self.sim = sim
        self.node = node
        self.life = life
    }

    var monotonicMs: Int64 { sim.nowMs }
    /// Wall time: the simulation starts at a fixed instant.
    var nowMs: Int64 { ReplicationSimulation.epochMs + sim.nowMs }

    @discardableResult
    func schedule(afterMs: Int64, _ fn: @escaping () -> Void) -> TimerID {
        let id = next
        next += 1
        callbacks[id] = fn
        sim.schedule(.timer(node: node, life: life, id: id), afterMs: max(0, afterMs))
        return TimerID(raw: id)
    }

    func cancel(_ timer: TimerID) { callbacks[timer.raw] = nil }

    func fire(_ id: UInt64) { callbacks.removeValue(forKey: id)?() }
}

/// A process's side of the simulated network: `PeerMessenger` for the production shells.
/// Requests, responses and oneways travel as `NodeMessage`s through the network model (delay,
/// loss, partitions); a request to a crashed node is refused after a dial, one that is lost
/// (or whose answer is) times out, as over TCP.
final class SimPeer: PeerMessenger {
    unowned let sim: ReplicationSimulation
    let node: Int
    let life: Int
    unowned let timers: SimTimers
    private var pending: [Int: (to: Int, reply: (Result<[UInt8], PeerError>) -> Void, timer: TimerID)] = [:]
    private var next = 0
    /// The default deadline of a request (`PeerSettings.requestTimeoutMs` as the node sets it).
    static let requestTimeoutMs: Int64 = 5_000

    init(sim: ReplicationSimulation, node: Int, life: Int, timers: SimTimers) {
        self.sim = sim
        self.node = node
        self.life = life
        self.timers = timers
    }

    func request(_ peer: String, operation: UInt16, payload: [UInt8], timeoutMs: Int64?,
                 reply: @escaping (Result<[UInt8], PeerError>) -> Void) {
        guard let to = sim.indexOf[peer], to != node else {
            timers.schedule(afterMs: 0) { reply(.failure(.unknownPeer)) }
            return
        }
        next += 1
        let id = next
        let timer = timers.schedule(afterMs: timeoutMs ?? Self.requestTimeoutMs) { [weak self] in
            self?.pending.removeValue(forKey: id)?.reply(.failure(.timedOut))
        }
        pending[id] = (to, reply, timer)
        if sim.nodes[to].isCrashed {
            // The dial is refused at once: the link reports the peer unreachable.
            timers.schedule(afterMs: 1) { [weak self] in self?.answered(id, .failure(.unreachable)) }
            return
        }
        sim.send(from: node, to: to, .request(id: id, operation: operation, payload: payload, requesterLife: life))
    }

    func send(_ peer: String, operation: UInt16, payload: [UInt8]) {
        guard let to = sim.indexOf[peer], to != node, !sim.nodes[to].isCrashed else { return }
        sim.send(from: node, to: to, .oneway(operation: operation, payload: payload))
    }

    /// The connection to `peer` broke: what waited on it fails `.closed` (in a later event,
    /// never inside the caller's own send).
    func connectionBroke(with peer: Int) {
        let broken = pending.filter { $0.value.to == peer }.keys.sorted()
        guard !broken.isEmpty else { return }
        timers.schedule(afterMs: 1) { [weak self] in
            for id in broken { self?.answered(id, .failure(.closed)) }
        }
    }

    /// A response arrived (or the dial failed).
    func answered(_ id: Int, _ result: Result<[UInt8], PeerError>) {
        guard let entry = pending.removeValue(forKey: id) else { return }
        timers.cancel(entry.timer)
        entry.reply(result)
    }
}

/// A process's worker threads: the work runs at once (it only touches memory databases) and
/// its result comes back a few milliseconds later, as from a worker, so the shells' waits for
/// slow work (a shard opening, a snapshot being made or installed) happen in the simulation too.
final class SimWork: SlowWorkRunner {
    unowned let timers: SimTimers
    /// How long a piece of slow work takes, in simulated ms.
    static let delayMs: Int64 = 3

    init(timers: SimTimers) { self.timers = timers }

    func run<T: Sendable>(_ work: @escaping @Sendable () -> T, done: @escaping (T) -> Void) -> Bool {
        let result = work()
        timers.schedule(afterMs: Self.delayMs) { done(result) }
        return true
    }
}
