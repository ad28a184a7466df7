import Hashing
import Wire
import XCTest

/// Hostile input never traps the decoder and never makes it return a frame that breaks the
/// header rules. Fixed seeds: a failure names the seed and input index to replay.
final class PeerFrameFuzzTests: XCTestCase {
    func testRandomBytesNeverCrashTheDecoder() {
        var rng = SplitMix64(seed: 0x5EED_0001)
        for _ in 0..<10_000 {
            let count = Int.random(in: 0...64, using: &rng)
            var bytes = (0..<count).map { _ in UInt8.random(in: 0...255, using: &rng) }
            // Half the inputs start with a valid magic and version so the fuzz gets past byte 3.
            if Bool.random(using: &rng), bytes.count >= 3 { bytes[0] = 0x52; bytes[1] = 0x50; bytes[2] = 1 }
            var decoder = PeerFrameDecoder(maxPayloadBytes: 1024)
            decoder.feed(bytes)
            while let frame = try? decoder.next() {
                XCTAssertLessThanOrEqual(frame.payload.count, 1024)
            }
        }
    }

    func testMutatedValidStreamsNeverCrashTheDecoder() throws {
        var rng = SplitMix64(seed: 0x5EED_0002)
        let valid = try encoded(oneFrameOfEachKind)
        var framesSeen = 0
        for index in 0..<10_000 {
            var bytes = valid
            for _ in 0..<Int.random(in: 1...4, using: &rng) {
                switch Int.random(in: 0..<3, using: &rng) {
                case 0: bytes[Int.random(in: 0..<bytes.count, using: &rng)] = UInt8.random(in: 0...255, using: &rng)
                case 1: bytes.insert(UInt8.random(in: 0...255, using: &rng), at: Int.random(in: 0...bytes.count, using: &rng))
                default: if bytes.count > 1 { bytes.remove(at: Int.random(in: 0..<bytes.count, using: &rng)) }
                }
            }
            var decoder = PeerFrameDecoder()
            let cut = Int.random(in: 0...bytes.count, using: &rng)
            decoder.feed(bytes[..<cut])
            var frames = (try? drain(&decoder)) ?? []
            decoder.feed(bytes[cut...])
            while let frame = try? decoder.next() { frames.append(frame) }
            for frame in frames {
                XCTAssertNoThrow(try PeerFrameEncoder.encode(frame), "seed 0x5EED0002 input \(index): decoded a frame the encoder refuses")
            }
            framesSeen += frames.count
        }
        XCTAssertGreaterThan(framesSeen, 0, "the mutations should leave some frames intact")
    }

    func testMutatedHandshakePayloadsNeverCrashTheHandshake() throws {
        var rng = SplitMix64(seed: 0x5EED_0003)
        let config = PeerHandshake.Configuration(clusterName: "c", localNodeId: "n2", sharedSecret: [1])
        let hello = PeerHello(version: .current, clusterName: "c", nodeId: "n1", nonce: [UInt8](repeating: 1, count: 32)).frame
        for _ in 0..<2_000 {
            var payload = hello.payload
            payload[Int.random(in: 0..<payload.count, using: &rng)] = UInt8.random(in: 0...255, using: &rng)
            if Bool.random(using: &rng) { payload = Array(payload.prefix(Int.random(in: 0...payload.count, using: &rng))) }
            var responder = try PeerHandshake(responding: config, nonce: [UInt8](repeating: 2, count: 32))
            _ = responder.start()
            switch responder.receive(PeerFrame(kind: .hello, payload: payload)) {
            case .send(let frame): XCTAssertEqual(frame.kind, .challenge)
            case .refused: XCTAssertNotNil(responder.outcome)
            default: XCTFail("a hello yields a challenge or a refusal")
            }
        }
    }
}
