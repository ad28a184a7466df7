import Hashing
import Gossip

/// N `SWIMInstance`s on a simulated network and a virtual clock, all driven from one seed:
/// the same seed replays the same run, event for event. Members can be paused (no ticks;
/// datagrams wait in a bounded socket buffer, as under SIGSTOP), crashed (everything
/// dropped, as after kill -9), restarted (a fresh instance with the same id rejoins) or
/// asked to leave. Bytes sent are counted per member.
public final class GossipSimulation {
    public enum NodeState: Sendable, Equatable {
        case running, paused, crashed
    }

    /// Something done to a member at a scheduled instant.
    public enum Action: Sendable, Equatable {
        case crash(MemberID)
        case pause(MemberID)
        case resume(MemberID)
        case restart(MemberID, seeds: [String])
        case leave(MemberID)
    }

    private struct Node {
        var instance: SWIMInstance
        var state: NodeState
        var scheduledTick: Instant?
        var inbox: [(from: String, bytes: [UInt8])] = []
        var bytesSent = 0
        var datagramsSent = 0

        mutating func feed(_ input: (inout SWIMInstance) -> [Directive]) -> [Directive] {
            input(&instance)
        }
    }

    private enum Event {
        case tick(MemberID, Instant)
        case deliver(to: String, from: String, bytes: [UInt8])
        case action(Action)
    }

    public let seed: UInt64
    public let settings: GossipSettings
    public var network: NetworkModel
    public private(set) var now = Instant.zero
    /// Datagrams a paused member's socket buffer holds; later ones are dropped.
    public var maxInboxDatagrams = 256
    /// The largest datagram any member sent so far.
    public private(set) var largestDatagramBytes = 0
    /// Called for every `memberChanged` directive: when, who noticed, what it saw.
    public var onMemberChanged: ((_ at: Instant, _ observer: MemberID, _ member: Member) -> Void)?

    /// Called for every datagram sent (`delivered` false when the network lost it).
    public var onDatagram: ((_ at: Instant, _ from: MemberID, _ to: String, _ bytes: [UInt8], _ delivered: Bool) -> Void)?

    private var rng: SplitMix64
    private var queue = EventQueue<Event>()
    private var nodes: [MemberID: Node] = [:]
    private var byAddress: [String: MemberID] = [:]
    /// Members in the order they were added: every iteration uses it.
    public private(set) var memberIDs: [MemberID] = []

    public init(seed: UInt64, settings: GossipSettings = GossipSettings(), network: NetworkModel = NetworkModel()) {
        self.seed = seed
        self.settings = settings
        self.network = network
        rng = SplitMix64(seed: seed)
    }

    // MARK: Members

    /// The address a member named `name` gets when none is given.
    public static func address(of name: String) -> String { "\(name).sim:7946" }

    /// Adds a running member and joins it through `seeds` now.
    @discardableResult
    public func addMember(name: String, address: String? = nil, meta: [UInt8] = [], seeds: [String]) -> MemberID {
        let id = MemberID(name: name, address: address ?? Self.address(of: name))
        let instance = makeInstance(id: id, meta: meta)
        nodes[id] = Node(instance: instance, state: .running)
        byAddress[id.address] = id
        memberIDs.append(id)
        drive(id) { $0.join(seeds: seeds, now: now) }
        return id
    }

    public func schedule(_ action: Action, at: Instant) {
        queue.schedule(.action(action), at: at)
    }

    public func perform(_ action: Action) {
        switch action {
        case let .crash(id):
            guard var node = nodes[id] else { return }
            node.state = .crashed
            node.inbox = []
            node.scheduledTick = nil
            nodes[id] = node
        case let .pause(id):
            guard nodes[id]?.state == .running else { return }
            nodes[id]?.state = .paused
        case let .resume(id):
            guard nodes[id]?.state == .paused, var node = nodes[id] else { return }
            node.state = .running
            let waiting = node.inbox
            node.inbox = []
            node.scheduledTick = nil
            nodes[id] = node
            // The overdue timer first (the worse order for the protocol), then the buffer.
            drive(id) { $0.onTick(now: now) }
            for d in waiting where nodes[id]?.state == .running {
                drive(id) { $0.onDatagram(d.bytes, from: d.from, now: now) }
            }
        case let .restart(id, seeds):
            guard var node = nodes[id] else { return }
            node.instance = makeInstance(id: id, meta: node.instance.meta)
            node.state = .running
            node.inbox = []
            node.scheduledTick = nil
            nodes[id] = node
            drive(id) { $0.join(seeds: seeds, now: now) }
        case let .leave(id):
            guard nodes[id]?.state == .running else { return }
            drive(id) { $0.leave(now: now) }
        }
    }

    // MARK: Running

    /// Processes every event up to and including `end`; the clock then reads `end`.
    public func run(until end: Instant) {
        _ = run(until: end, stopWhen: { false })
    }

    public func run(forMs ms: Int64) {
        run(until: now.adding(ms: ms))
    }

    /// Like `run(until:)` but stops right after the event that makes `stopWhen` true;
    /// returns whether it did.
    public func run(until end: Instant, stopWhen: () -> Bool) -> Bool {
        while let next = queue.nextTime, next <= end {
            guard let (at, event) = queue.popNext() else { break }
            now = at
            process(event)
            if stopWhen() { return true }
        }
        now = max(now, end)
        return false
    }

    // MARK: Observation

    public func state(of id: MemberID) -> NodeState? { nodes[id]?.state }

    public func instance(of id: MemberID) -> SWIMInstance? { nodes[id]?.instance }

    /// What `observer` believes about `target`.
    public func status(of target: MemberID, seenBy observer: MemberID) -> MemberStatus? {
        nodes[observer]?.instance.member(target)?.status
    }

    public var runningMembers: [MemberID] { memberIDs.filter { nodes[$0]?.state == .running } }

    public func bytesSent(by id: MemberID) -> Int { nodes[id]?.bytesSent ?? 0 }

    public var totalBytesSent: Int { memberIDs.reduce(0) { $0 + (nodes[$1]?.bytesSent ?? 0) } }

    /// True when every running member (that has not left) sees `expected` for each listed
    /// member. A member expected dead or left may also be unknown: one that joined after the
    /// departure never hears of it, which is as converged.
    public func allRunningMembersSee(_ expected: [MemberID: MemberStatus]) -> Bool {
        for observer in runningMembers {
            guard let instance = nodes[observer]?.instance, !instance.hasLeft else { continue }
            for (target, status) in expected where target != observer {
                let seen = instance.member(target)?.status
                if seen == status || (seen == nil && !status.isInCluster) { continue }
                return false
            }
        }
        return true
    }

    // MARK: Internals

    private func makeInstance(id: MemberID, meta: [UInt8]) -> SWIMInstance {
        do {
            return try SWIMInstance(me: id, meta: meta, settings: settings, seed: rng.next())
        } catch {
            fatalError("simulation misconfigured for \(id): \(error) (seed \(seed))")
        }
    }

    private func process(_ event: Event) {
        switch event {
        case let .tick(id, at):
            guard var node = nodes[id], node.state == .running, node.scheduledTick == at else { return }
            node.scheduledTick = nil
            nodes[id] = node
            drive(id) { $0.onTick(now: now) }
        case let .deliver(to, from, bytes):
            guard let id = byAddress[to], let node = nodes[id] else { return }
            switch node.state {
            case .crashed:
                return
            case .paused:
                if node.inbox.count < maxInboxDatagrams { nodes[id]?.inbox.append((from, bytes)) }
            case .running:
                drive(id) { $0.onDatagram(bytes, from: from, now: now) }
            }
        case let .action(action):
            perform(action)
        }
    }

    /// Feeds one input to a member's instance and performs what it returns.
    private func drive(_ id: MemberID, _ input: (inout SWIMInstance) -> [Directive]) {
        // Mutated in place through the dictionary: copying the node out would copy its view.
        guard let directives = nodes[id]?.feed(input) else { return }
        perform(directives, by: id)
    }

    private func perform(_ directives: [Directive], by id: MemberID) {
        for directive in directives {
            switch directive {
            case let .send(to, bytes):
                nodes[id]?.bytesSent += bytes.count
                nodes[id]?.datagramsSent += 1
                largestDatagramBytes = max(largestDatagramBytes, bytes.count)
                let delay = network.transit(from: id.address, to: to, rng: &rng)
                if let delay {
                    queue.schedule(.deliver(to: to, from: id.address, bytes: bytes), at: now.adding(ms: delay))
                }
                onDatagram?(now, id, to, bytes, delay != nil)
            case let .scheduleTick(at):
                if nodes[id]?.scheduledTick != at {
                    nodes[id]?.scheduledTick = at
                    queue.schedule(.tick(id, at), at: max(at, now))
                }
            case let .memberChanged(member):
                onMemberChanged?(now, id, member)
            }
        }
    }
}
