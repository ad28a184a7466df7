import Hashing
@testable import Gossip
import XCTest

final class GossipCodecTests: XCTestCase {
    let a = MemberID(name: "n1", address: "127.0.0.1:7201")
    let b = MemberID(name: "n2", address: "[::1]:7202")

    var samples: [GossipDatagram] {
        let updates = [
            MemberUpdate(id: a, incarnation: 7, kind: .alive(meta: Array("client=127.0.0.1:8080".utf8))),
            MemberUpdate(id: b, incarnation: 0, kind: .suspect(accuser: "n3")),
            MemberUpdate(id: b, incarnation: .max, kind: .dead),
            MemberUpdate(id: a, incarnation: 1, kind: .left),
        ]
        let view = [
            Member(id: a, status: .alive, incarnation: 3, meta: [1, 2, 3]),
            Member(id: b, status: .dead, incarnation: 9, meta: []),
        ]
        return [
            GossipDatagram(message: .ping(seq: 1, source: a, target: b), updates: updates),
            GossipDatagram(message: .ack(seq: .max, source: b)),
            GossipDatagram(message: .pingReq(seq: 42, source: a, target: b), updates: [updates[1]]),
            GossipDatagram(message: .nack(seq: 42, source: b)),
            GossipDatagram(message: .pushPull(PushPull(isReply: true, part: 1, partCount: 3, source: a, members: view))),
            GossipDatagram(message: .gossip, updates: updates),
        ]
    }

    func testEveryMessageKindRoundTrips() throws {
        for datagram in samples {
            let bytes = GossipCodec.encode(datagram)
            XCTAssertEqual(bytes.first, GossipCodec.version)
            XCTAssertEqual(try GossipCodec.decode(bytes), datagram)
        }
    }

    func testEveryTruncationIsRejected() {
        for datagram in samples {
            let bytes = GossipCodec.encode(datagram)
            for length in 0..<bytes.count {
                XCTAssertThrowsError(try GossipCodec.decode(Array(bytes.prefix(length))), "\(datagram.message) cut at \(length)")
            }
        }
    }

    func testTrailingBytesAreRejected() {
        let bytes = GossipCodec.encode(GossipDatagram(message: .gossip)) + [0]
        XCTAssertThrowsError(try GossipCodec.decode(bytes)) { XCTAssertEqual($0 as? GossipDecodeError, .trailingBytes(count: 1)) }
    }

    func testUnknownVersionAndKindAreRejected() {
        var bytes = GossipCodec.encode(GossipDatagram(message: .gossip))
        bytes[0] = 2
        XCTAssertThrowsError(try GossipCodec.decode(bytes)) { XCTAssertEqual($0 as? GossipDecodeError, .unsupportedVersion(2)) }
        XCTAssertThrowsError(try GossipCodec.decode([GossipCodec.version, 99, 0])) {
            XCTAssertEqual($0 as? GossipDecodeError, .unknownMessageKind(99))
        }
    }

    func testOversizedNameIsRejected() {
        var w = ByteWriter()
        w.u8(GossipCodec.version); w.u8(GossipCodec.Kind.ack.rawValue); w.u32(1)
        w.short(Array(repeating: UInt8(ascii: "x"), count: GossipLimits.maxNameBytes + 1))
        w.string("127.0.0.1:1"); w.u8(0)
        XCTAssertThrowsError(try GossipCodec.decode(w.bytes)) { XCTAssertEqual($0 as? GossipDecodeError, .emptyOrOversizedField) }
    }

    func testInvalidUTF8IsRejected() {
        var w = ByteWriter()
        w.u8(GossipCodec.version); w.u8(GossipCodec.Kind.ack.rawValue); w.u32(1)
        w.short([0xFF, 0xFE]); w.string("127.0.0.1:1"); w.u8(0)
        XCTAssertThrowsError(try GossipCodec.decode(w.bytes)) { XCTAssertEqual($0 as? GossipDecodeError, .invalidUTF8) }
    }

    func testPushPullPartBeyondItsCountIsRejected() {
        let p = PushPull(isReply: false, part: 2, partCount: 2, source: a, members: [])
        let bytes = GossipCodec.encode(GossipDatagram(message: .pushPull(p)))
        XCTAssertThrowsError(try GossipCodec.decode(bytes)) { XCTAssertEqual($0 as? GossipDecodeError, .invalidPushPullPart) }
    }

    func testHugeDeclaredCountsOnShortInputAreRejected() {
        // A push-pull claiming 65,535 members, and 255 updates, in a few bytes.
        var w = ByteWriter()
        w.u8(GossipCodec.version); w.u8(GossipCodec.Kind.pushPull.rawValue); w.u8(0); w.u16(0); w.u16(1)
        w.id(a); w.u16(.max)
        XCTAssertThrowsError(try GossipCodec.decode(w.bytes))
        XCTAssertThrowsError(try GossipCodec.decode([GossipCodec.version, GossipCodec.Kind.gossip.rawValue, 255]))
    }

    func testRandomAndMutatedBytesNeverTrap() {
        let seed: UInt64 = 0x60551F
        var rng = SplitMix64(seed: seed)
        let valid = samples.map { GossipCodec.encode($0) }
        var accepted = 0
        for i in 0..<20_000 {
            var bytes: [UInt8]
            if i % 2 == 0 {
                bytes = valid[rng.below(valid.count)]
                for _ in 0...rng.below(4) { bytes[rng.below(bytes.count)] = UInt8(truncatingIfNeeded: rng.next()) }
            } else {
                bytes = (0..<rng.below(200)).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
                if !bytes.isEmpty { bytes[0] = GossipCodec.version }
            }
            if let decoded = try? GossipCodec.decode(bytes) {
                accepted += 1
                // Whatever is accepted re-encodes to the same bytes: nothing was misread.
                XCTAssertEqual(GossipCodec.encode(decoded), bytes, "seed \(seed) case \(i)")
            }
        }
        XCTAssertLessThan(accepted, 20_000, "seed \(seed)")
    }
}
