import Dispatch
import Foundation
import Gossip
import Net

/// The gossip shell as the main loop sees it: a facade over the gossip thread.
///
/// Gossip runs on its own thread ("relay-gossip") with its own event loop, which owns the UDP
/// socket, the `SWIMInstance` and its timer (`GossipThread`), so client work on the main loop
/// cannot starve failure detection. Calls from here (`start`, `leave`, `stop`) are posted to
/// that loop in order; member changes come back as jobs on the main loop; the counters and
/// the main loop's heartbeat are shared through `GossipShared`. A turn-end hook on the main
/// loop feeds the watchdog (`MainLoopWatchdog`), which silences gossip while the main loop is
/// wedged. Every datagram is sealed (`GossipSeal`): authenticated with the cluster's key,
/// bound to its sender's address, and stamped against replays.
final class GossipShell {
    static let threadName = "relay-gossip"
    /// After a graceful leave the gossip thread keeps running this long before it stops, so
    /// the leave is passed on: 4 gossip intervals of 50 ms (docs/GOSSIP.md, "Shell duties").
    static let leaveGossipMs: Int64 = 200
    /// The longest `stop` waits for the gossip thread to exit: the leave grace plus its last
    /// turn, with room for a loaded machine.
    static let stopWaitMs: Int64 = leaveGossipMs + 1_000

    private enum State {
        /// Made, not started: the caller's thread still owns the gossip thread's half.
        case created(GossipThread)
        /// The gossip thread runs; its half is reached through its loop only.
        case running(LoopBound<GossipThread>, exited: DispatchSemaphore)
        case stopped
    }

    private var state: State
    private let gossipLoop: EventLoop
    private let mainLoop: EventLoop
    private let shared: GossipShared
    /// Main loop: a member appeared or changed.
    var onMemberChanged: ((Member) -> Void)?
    /// Main loop: things worth a log line (the watchdog's pauses).
    var onNote: ((String) -> Void)?
    /// Our sender binding ("ip:port" of the bound socket), once started.
    private(set) var boundAddress: String?

    init(swim: SWIMInstance, mainLoop: EventLoop, key: [UInt8], watchdog: MainLoopWatchdog = MainLoopWatchdog()) throws(NetError) {
        let gossipLoop = try EventLoop()
        let shared = GossipShared(nowMs: mainLoop.monotonicMs)
        self.gossipLoop = gossipLoop
        self.mainLoop = mainLoop
        self.shared = shared
        state = .created(GossipThread(swim: swim, loop: gossipLoop, mainLoop: mainLoop, key: key, shared: shared,
                                      watchdog: watchdog))
        // The heartbeat: every completed main-loop turn.
        mainLoop.addTurnEndHook { [weak mainLoop] in
            if let mainLoop { shared.mainLoopTurned(atMs: mainLoop.monotonicMs) }
        }
    }

    /// A snapshot of the gossip thread's figures; any thread.
    var counters: GossipCounters { shared.counters }

    /// Binds the UDP socket (here, so a bind error reaches the caller), starts the gossip
    /// thread and joins through `seeds`.
    func start(host: String, port: Int, seeds: [String]) throws(NetError) {
        guard case .created(let core) = state else { preconditionFailure("GossipShell started twice: \(state)") }
        let mainLoop = self.mainLoop
        let events = LoopBound<(GossipEvent) -> Void>({ [weak self] event in self?.handle(event) }, loop: mainLoop)
        boundAddress = try core.bind(host: host, port: port) { event in mainLoop.execute { events.value(event) } }
        let gossipLoop = self.gossipLoop
        let exited = DispatchSemaphore(value: 0)
        let thread = Thread {
            gossipLoop.run()
            gossipLoop.shutdown()
            exited.signal()
        }
        thread.name = Self.threadName
        let bound = LoopBound(core, loop: gossipLoop)
        state = .running(bound, exited: exited)
        thread.start()
        gossipLoop.execute { bound.value.start(seeds: seeds) }
    }

    /// Graceful leave: announced at once by the gossip thread.
    func leave() {
        guard case .running(let core, _) = state else { return }
        gossipLoop.execute { core.value.leave() }
    }

    /// Stops the gossip thread after what was posted before (a leave is sent first, and given
    /// `leaveGossipMs` to spread), and waits at most `stopWaitMs` for it to exit. Returns
    /// false if it did not exit in time.
    @discardableResult
    func stop() -> Bool {
        switch state {
        case .created:
            state = .stopped
            return true
        case .running(let core, let exited):
            state = .stopped
            gossipLoop.execute { core.value.stop(leaveGossipMs: Self.leaveGossipMs) }
            guard exited.wait(timeout: .now() + .milliseconds(Int(Self.stopWaitMs))) == .success else {
                onNote?("gossip thread did not stop within \(Self.stopWaitMs) ms")
                return false
            }
            return true
        case .stopped:
            return true
        }
    }

    private func handle(_ event: GossipEvent) {
        switch event {
        case .memberChanged(let member):
            onMemberChanged?(member)
        case .paused(let stalledForMs):
            onNote?("main loop completed no turn for \(stalledForMs) ms: gossip went silent")
        case .resumed(let pausedForMs):
            onNote?("main loop turning again: gossip resumed after \(pausedForMs) ms of silence")
        }
    }
}
