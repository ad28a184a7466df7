import Gossip
import XCTest

/// The state machine driven by hand, one input at a time.
final class SWIMInstanceTests: XCTestCase {
    let me = MemberID(name: "n1", address: "h1:7201")
    let peer = MemberID(name: "n2", address: "h2:7201")
    let third = MemberID(name: "n3", address: "h3:7201")

    func makeInstance(seed: UInt64 = 1) throws -> SWIMInstance {
        try SWIMInstance(me: me, meta: [7], settings: GossipSettings(), seed: seed)
    }

    /// An instance that knows `peer` and `third` alive, as after a join.
    func joinedInstance() throws -> SWIMInstance {
        var swim = try makeInstance()
        _ = swim.join(seeds: [], now: .zero)
        let view = [Member(id: peer, status: .alive, incarnation: 0, meta: []), Member(id: third, status: .alive, incarnation: 0, meta: [])]
        let pp = PushPull(isReply: true, part: 0, partCount: 1, source: peer, members: view)
        _ = swim.onDatagram(GossipCodec.encode(GossipDatagram(message: .pushPull(pp))), from: peer.address, now: .zero)
        return swim
    }

    func sends(_ directives: [Directive]) -> [(to: String, datagram: GossipDatagram)] {
        directives.compactMap {
            guard case let .send(to, bytes) = $0, let d = try? GossipCodec.decode(bytes) else { return nil }
            return (to, d)
        }
    }

    func testInvalidIdentityMetaOrSettingsAreRefused() {
        XCTAssertThrowsError(try SWIMInstance(me: MemberID(name: "", address: "h:1"), meta: [], settings: GossipSettings(), seed: 1))
        XCTAssertThrowsError(try SWIMInstance(me: me, meta: Array(repeating: 0, count: 256), settings: GossipSettings(), seed: 1))
        var settings = GossipSettings()
        settings.probeTimeoutMs = settings.probeIntervalMs
        XCTAssertThrowsError(try SWIMInstance(me: me, meta: [], settings: settings, seed: 1))
    }

    func testEveryInputEndsWithExactlyOneScheduleTick() throws {
        var swim = try joinedInstance()
        let outputs = [
            swim.onTick(now: Instant(ms: 10)),
            swim.onDatagram([1, 2, 3], from: peer.address, now: Instant(ms: 20)),
            swim.leave(now: Instant(ms: 30)),
        ]
        for out in outputs {
            let ticks = out.filter { if case .scheduleTick = $0 { true } else { false } }
            XCTAssertEqual(ticks.count, 1)
            guard case .scheduleTick = out.last else { return XCTFail("the tick comes last: \(out)") }
        }
    }

    func testJoinSendsItsStateToEverySeedButItselfAndRetriesUntilAnswered() throws {
        var swim = try makeInstance()
        let out = swim.join(seeds: [me.address, "h2:7201", "h3:7201"], now: .zero)
        XCTAssertEqual(sends(out).map(\.to), ["h2:7201", "h3:7201"])
        guard case let .pushPull(p) = sends(out)[0].datagram.message else { return XCTFail("not a push-pull") }
        XCTAssertFalse(p.isReply)
        XCTAssertEqual(p.members.map(\.id), [me])
        let retry = swim.onTick(now: Instant(ms: swim.settings.joinRetryIntervalMs))
        XCTAssertEqual(sends(retry).filter { if case .pushPull = $0.datagram.message { true } else { false } }.count, 2)
    }

    func testPushPullRequestIsAnsweredWithOurViewAndAdmitsTheJoiner() throws {
        var swim = try makeInstance()
        _ = swim.join(seeds: [], now: .zero)
        let request = PushPull(isReply: false, part: 0, partCount: 1, source: peer,
                               members: [Member(id: peer, status: .alive, incarnation: 0, meta: [9])])
        let out = swim.onDatagram(GossipCodec.encode(GossipDatagram(message: .pushPull(request))), from: peer.address, now: .zero)
        XCTAssertTrue(out.contains(.memberChanged(Member(id: peer, status: .alive, incarnation: 0, meta: [9]))))
        XCTAssertEqual(swim.version, 1)
        let replies = sends(out).filter { $0.to == peer.address }
        guard case let .pushPull(reply)? = replies.first?.datagram.message else { return XCTFail("no reply") }
        XCTAssertTrue(reply.isReply)
        XCTAssertEqual(reply.members.map(\.id), [me, peer])
    }

    func testPingIsAnsweredWithAckToItsSender() throws {
        var swim = try joinedInstance()
        let ping = GossipDatagram(message: .ping(seq: 77, source: peer, target: me))
        let out = swim.onDatagram(GossipCodec.encode(ping), from: peer.address, now: Instant(ms: 5))
        let acks = sends(out).filter { $0.datagram.message == .ack(seq: 77, source: me) }
        XCTAssertEqual(acks.map(\.to), [peer.address])
    }

    func testPingMeantForAnotherMemberAtOurAddressIsIgnored() throws {
        var swim = try joinedInstance()
        let stranger = MemberID(name: "old-n1", address: me.address)
        let ping = GossipDatagram(message: .ping(seq: 77, source: peer, target: stranger))
        XCTAssertTrue(sends(swim.onDatagram(GossipCodec.encode(ping), from: peer.address, now: .zero)).isEmpty)
    }

    func testSuspectedLiveMemberRefutesWithHigherIncarnation() throws {
        var swim = try joinedInstance()
        XCTAssertEqual(swim.incarnation, 0)
        // Lifeguard IV-C: the suspicion arrives on a ping; the ack must carry the refutation.
        let accusation = MemberUpdate(id: me, incarnation: 0, kind: .suspect(accuser: peer.name))
        let ping = GossipDatagram(message: .ping(seq: 5, source: peer, target: me), updates: [accusation])
        let out = swim.onDatagram(GossipCodec.encode(ping), from: peer.address, now: Instant(ms: 100))
        XCTAssertEqual(swim.incarnation, 1)
        XCTAssertEqual(swim.member(me)?.status, .alive)
        let ack = sends(out).first { $0.datagram.message == .ack(seq: 5, source: me) }
        XCTAssertTrue(ack?.datagram.updates.contains(MemberUpdate(id: me, incarnation: 1, kind: .alive(meta: [7]))) == true)
        XCTAssertEqual(swim.localHealth, 1, "Lifeguard IV-A: being suspected counts against our health")
    }

    func testAliveWithHigherIncarnationClearsASuspicion() throws {
        var swim = try joinedInstance()
        let suspect = MemberUpdate(id: peer, incarnation: 0, kind: .suspect(accuser: third.name))
        var out = swim.onDatagram(GossipCodec.encode(GossipDatagram(message: .gossip, updates: [suspect])), from: third.address, now: .zero)
        XCTAssertEqual(swim.member(peer)?.status, .suspect)
        XCTAssertTrue(out.contains(.memberChanged(Member(id: peer, status: .suspect, incarnation: 0, meta: []))))
        let refutation = MemberUpdate(id: peer, incarnation: 1, kind: .alive(meta: []))
        out = swim.onDatagram(GossipCodec.encode(GossipDatagram(message: .gossip, updates: [refutation])), from: peer.address, now: Instant(ms: 10))
        XCTAssertEqual(swim.member(peer)?.status, .alive)
        // The suspicion is gone: long after its timeout, the peer is still alive.
        _ = swim.onTick(now: Instant(ms: 20_000))
        XCTAssertNotEqual(swim.member(peer)?.status, .dead)
    }

    func testStaleNewsIsIgnored() throws {
        var swim = try joinedInstance()
        let fresh = MemberUpdate(id: peer, incarnation: 5, kind: .alive(meta: []))
        _ = swim.onDatagram(GossipCodec.encode(GossipDatagram(message: .gossip, updates: [fresh])), from: peer.address, now: .zero)
        let stale = MemberUpdate(id: peer, incarnation: 4, kind: .dead)
        _ = swim.onDatagram(GossipCodec.encode(GossipDatagram(message: .gossip, updates: [stale])), from: third.address, now: .zero)
        XCTAssertEqual(swim.member(peer)?.status, .alive)
        XCTAssertEqual(swim.member(peer)?.incarnation, 5)
    }

    func testLeftIsNotOverriddenByDeadAtTheSameIncarnation() throws {
        var swim = try joinedInstance()
        for kind in [MemberUpdate.Kind.left, .dead] {
            let u = MemberUpdate(id: peer, incarnation: 0, kind: kind)
            _ = swim.onDatagram(GossipCodec.encode(GossipDatagram(message: .gossip, updates: [u])), from: third.address, now: .zero)
        }
        XCTAssertEqual(swim.member(peer)?.status, .left)
    }

    func testHostileDatagramIsCountedAndChangesNothing() throws {
        var swim = try joinedInstance()
        let before = swim.members
        _ = swim.onDatagram([GossipCodec.version, 5, 0, 0xFF, 0xFF], from: "evil:1", now: .zero)
        _ = swim.onDatagram([], from: "evil:1", now: .zero)
        XCTAssertEqual(swim.rejectedDatagrams, 2)
        XCTAssertEqual(swim.members, before)
    }

    func testLeaveAnnouncesLeftAndStopsProbing() throws {
        var swim = try joinedInstance()
        let out = swim.leave(now: Instant(ms: 50))
        XCTAssertTrue(swim.hasLeft)
        XCTAssertEqual(swim.member(me)?.status, .left)
        XCTAssertTrue(out.contains(.memberChanged(Member(id: me, status: .left, incarnation: 0, meta: [7]))))
        let told = sends(out).filter { $0.datagram.updates.contains(MemberUpdate(id: me, incarnation: 0, kind: .left)) }
        XCTAssertEqual(Set(told.map(\.to)), [peer.address, third.address])
        for t in stride(from: Int64(100), through: 5_000, by: 100) {
            let pings = sends(swim.onTick(now: Instant(ms: t))).filter { if case .ping = $0.datagram.message { true } else { false } }
            XCTAssertTrue(pings.isEmpty, "no probing after leave")
        }
    }

    func testUnansweredProbeLeadsToIndirectProbesThenSuspicion() throws {
        var swim = try joinedInstance()
        var now = Instant(ms: 1)
        var target: MemberID?
        var pingReqs = 0
        // Nobody answers: the first round's ping gets ping-reqs, then a suspicion.
        for _ in 0..<10 {
            let out = swim.onTick(now: now)
            for s in sends(out) {
                if case let .ping(_, _, t) = s.datagram.message, target == nil { target = t }
                if case .pingReq = s.datagram.message { pingReqs += 1 }
            }
            if let t = target, swim.member(t)?.status == .suspect { break }
            guard case let .scheduleTick(next)? = out.last else { return XCTFail("no tick") }
            now = next
        }
        let probed = try XCTUnwrap(target)
        XCTAssertEqual(pingReqs, 1, "the one other member is asked to help")
        XCTAssertEqual(swim.member(probed)?.status, .suspect)
        XCTAssertLessThanOrEqual(now.ms, 1 + swim.settings.probeIntervalMs)
    }
}
