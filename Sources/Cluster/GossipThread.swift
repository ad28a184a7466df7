import Gossip
import Net

/// What the gossip thread tells the main loop (through `EventLoop.execute`).
enum GossipEvent: Sendable {
    case memberChanged(Member)
    /// The watchdog silenced gossip: the main loop completed no turn for `stalledForMs`.
    case paused(stalledForMs: Int64)
    /// The main loop turned again; gossip was silent for `pausedForMs`.
    case resumed(pausedForMs: Int64)
}

/// The gossip thread's half of the shell: the UDP socket, the `SWIMInstance` and its one
/// timer, the seal and the main-loop watchdog. It runs on `loop`'s thread ("relay-gossip");
/// only `bind` runs earlier, on the caller's thread, before that thread is started (which
/// publishes it). Nothing here is shared: the main loop reaches it only through
/// `loop.execute`, and it reaches the main loop only through `report` and `GossipShared`.
final class GossipThread {
    let loop: EventLoop
    private var swim: SWIMInstance
    private let key: [UInt8]
    private let shared: GossipShared
    private let mainLoop: EventLoop
    private var watchdog: MainLoopWatchdog
    /// The socket and the seal whose binding is its address; from `bind` until `finish`.
    private var endpoint: Endpoint?
    private var report: @Sendable (GossipEvent) -> Void = { _ in }
    private var tick: TimerID?
    private var watchdogTimer: TimerID?
    /// When `leave` was called (monotonic ms): `stop` lets the leave spread a little first.
    private var leftAtMs: Int64?

    init(swim: SWIMInstance, loop: EventLoop, mainLoop: EventLoop, key: [UInt8], shared: GossipShared,
         watchdog: MainLoopWatchdog) {
        self.swim = swim
        self.loop = loop
        self.mainLoop = mainLoop
        self.key = key
        self.shared = shared
        self.watchdog = watchdog
    }

    private var now: Instant { Instant(ms: loop.monotonicMs) }

    /// Caller's thread, before the gossip thread starts. Returns the sender binding.
    func bind(host: String, port: Int, report: @escaping @Sendable (GossipEvent) -> Void) throws(NetError) -> String {
        let socket = try loop.bindUDP(host: host, port: port) { [unowned self] bytes, from in received(bytes, from: from) }
        endpoint = Endpoint(socket: socket, seal: GossipSeal(key: key, sender: socket.localAddress))
        self.report = report
        return socket.localAddress
    }

    // MARK: Calls from the main loop (each arrives through `loop.execute`)

    func start(seeds: [String]) {
        perform(swim.join(seeds: seeds, now: now))
        scheduleWatchdog()
    }

    func leave() {
        if leftAtMs == nil { leftAtMs = loop.monotonicMs }
        perform(swim.leave(now: now))
    }

    /// Closes the socket and stops the loop, `leaveGossipMs` after a leave at the earliest,
    /// so the news is passed on (docs/GOSSIP.md, "Shell duties").
    func stop(leaveGossipMs: Int64) {
        let wait = leftAtMs.map { max(0, $0 + leaveGossipMs - loop.monotonicMs) } ?? 0
        guard wait > 0 else { return finish() }
        // Strong: the facade has let go of us already; the timer keeps us until `finish`.
        loop.schedule(afterMs: wait) { self.finish() }
    }

    private func finish() {
        if let tick { loop.cancel(tick) }
        if let watchdogTimer { loop.cancel(watchdogTimer) }
        tick = nil
        watchdogTimer = nil
        endpoint?.socket.close()
        endpoint = nil
        loop.stop()
    }

    // MARK: Datagrams and the timer

    private func received(_ bytes: [UInt8], from: String) {
        guard !watchdog.isPaused else {
            shared.count { $0.droppedWhilePaused += 1 }
            return
        }
        let opened: [UInt8]?
        do {
            opened = try endpoint?.seal.open(bytes, from: from)
        } catch {
            shared.count { counters in
                switch error {
                case .badTag: counters.rejectedBadTag += 1
                case .wrongSender: counters.rejectedWrongSender += 1
                case .duplicate, .stale: counters.rejectedReplays += 1
                }
            }
            return
        }
        guard let body = opened else { return }
        let undecodableBefore = swim.rejectedDatagrams
        perform(swim.onDatagram(body, from: from, now: now))
        let undecodable = swim.rejectedDatagrams > undecodableBefore
        shared.count { counters in
            counters.datagramsAccepted += 1
            if undecodable { counters.undecodable += 1 }
        }
    }

    private func perform(_ directives: [Directive]) {
        for directive in directives {
            switch directive {
            case .send(let to, let bytes):
                // Silent while the watchdog holds us (only a call queued before the stall
                // can get here then).
                guard !watchdog.isPaused, let sealed = endpoint?.seal.seal(bytes, wallClockMs: loop.nowMs) else { continue }
                endpoint?.socket.send(sealed, to: to)
                shared.count { counters in
                    counters.datagramsSent += 1
                    counters.bytesSent += sealed.count
                }
            case .scheduleTick(let at):
                if let tick { loop.cancel(tick) }
                tick = nil
                // Paused: no tick at all; `resume` runs the overdue one.
                guard !watchdog.isPaused, endpoint != nil else { continue }
                tick = loop.schedule(afterMs: max(0, at.ms - now.ms)) { [weak self] in
                    guard let self else { return }
                    tick = nil
                    perform(swim.onTick(now: now))
                }
            case .memberChanged(let member):
                report(.memberChanged(member))
            }
        }
        let health = swim.localHealth
        shared.count { $0.localHealth = health }
    }

    // MARK: The watchdog

    private func scheduleWatchdog() {
        watchdogTimer = loop.schedule(afterMs: MainLoopWatchdog.checkIntervalMs) { [weak self] in
            guard let self else { return }
            watchdogTimer = nil
            checkMainLoop()
            if endpoint != nil { scheduleWatchdog() }
        }
    }

    private func checkMainLoop() {
        switch watchdog.check(now: loop.monotonicMs, lastTurnEndMs: shared.lastMainLoopTurnMs) {
        case .none:
            break
        case .poke:
            guard shared.claimPoke() else { break }
            mainLoop.execute { [shared, mainLoop] in shared.pokeArrived(atMs: mainLoop.monotonicMs) }
        case .pause(let stalledForMs):
            if let tick { loop.cancel(tick) }
            tick = nil
            shared.count { counters in
                counters.pauses += 1
                counters.paused = true
            }
            report(.paused(stalledForMs: stalledForMs))
        case .resume(let pausedForMs):
            shared.count { $0.paused = false }
            report(.resumed(pausedForMs: pausedForMs))
            // The overdue tick: SWIM sees a late tick and treats it as a stall (abandons the
            // probe round, counts against local health) instead of accusing anyone.
            perform(swim.onTick(now: now))
        }
    }
}

/// The bound socket and its seal (mutated in place through `GossipThread.endpoint`).
private struct Endpoint {
    let socket: UDPSocket
    var seal: GossipSeal
}
