import Wire
import XCTest

final class PeerFrameCodecTests: XCTestCase {
    func testHeaderLayoutMatchesTheDocument() throws {
        let bytes = try PeerFrameEncoder.encode(.request(id: 0x0102_0304_0506_0708, operation: 0x0A0B, payload: [0xEE]))
        XCTAssertEqual(hex(bytes), "5250" + "01" + "05" + "0000" + "0a0b" + "0102030405060708" + "00000001" + "ee")
        XCTAssertEqual(bytes.count, PeerFrameLimits.headerBytes + 1)
    }

    func testEveryFrameKindRoundTrips() throws {
        XCTAssertEqual(Set(oneFrameOfEachKind.map(\.kind)), Set(PeerFrameKind.allCases))
        for frame in oneFrameOfEachKind {
            var decoder = PeerFrameDecoder()
            decoder.feed(try PeerFrameEncoder.encode(frame))
            XCTAssertEqual(try decoder.next(), frame, "\(frame.kind)")
            XCTAssertNil(try decoder.next())
            XCTAssertEqual(decoder.bufferedByteCount, 0)
        }
    }

    func testManyFramesInOneReadAllDecode() throws {
        let frames = (0..<1000).map { PeerFrame.request(id: UInt64($0 + 1), operation: 3, payload: [UInt8](repeating: UInt8($0 % 256), count: $0 % 50)) }
        var decoder = PeerFrameDecoder()
        decoder.feed(try encoded(frames))
        XCTAssertEqual(try drain(&decoder), frames)
    }

    func testFramesSplitAtEveryByteDecode() throws {
        let stream = try encoded(oneFrameOfEachKind)
        for cut in 0...stream.count {
            var decoder = PeerFrameDecoder()
            decoder.feed(stream[..<cut])
            var frames = try drain(&decoder)
            decoder.feed(stream[cut...])
            frames += try drain(&decoder)
            XCTAssertEqual(frames, oneFrameOfEachKind, "cut at \(cut)")
        }
    }

    func testOneByteAtATimeDecodes() throws {
        let stream = try encoded(oneFrameOfEachKind)
        var decoder = PeerFrameDecoder()
        var frames: [PeerFrame] = []
        for byte in stream {
            decoder.feed([byte])
            frames += try drain(&decoder)
        }
        XCTAssertEqual(frames, oneFrameOfEachKind)
    }

    func testTruncatedFrameNeedsMoreBytes() throws {
        let bytes = try PeerFrameEncoder.encode(.oneway(operation: 1, payload: [1, 2, 3]))
        var decoder = PeerFrameDecoder()
        decoder.feed(bytes.dropLast())
        XCTAssertNil(try decoder.next())
        XCTAssertEqual(decoder.bufferedByteCount, bytes.count - 1)
    }

    func testOversizeLengthIsRefusedFromTheHeaderAlone() {
        // A header announcing 4 GiB - 1 with no payload behind it: refused at once.
        let header: [UInt8] = [0x52, 0x50, 1, 5, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0xFF, 0xFF, 0xFF, 0xFF]
        var decoder = PeerFrameDecoder()
        decoder.feed(header)
        XCTAssertThrowsError(try decoder.next()) {
            XCTAssertEqual($0 as? PeerFrameError, .payloadTooLarge(length: 0xFFFF_FFFF, max: PeerFrameLimits.maxPayloadBytes))
        }
    }

    func testHandshakeLimitRefusesALargeFrameFromAStranger() throws {
        var decoder = PeerFrameDecoder(maxPayloadBytes: PeerFrameLimits.maxHandshakePayloadBytes)
        let big = PeerFrame.request(id: 1, operation: 1, payload: [UInt8](repeating: 0, count: 2000))
        decoder.feed(try PeerFrameEncoder.encode(big).prefix(PeerFrameLimits.headerBytes))
        XCTAssertThrowsError(try decoder.next()) {
            XCTAssertEqual($0 as? PeerFrameError, .payloadTooLarge(length: 2000, max: 1024))
        }
    }

    func testRaisedLimitAcceptsFramesAfterTheHandshake() throws {
        var decoder = PeerFrameDecoder(maxPayloadBytes: PeerFrameLimits.maxHandshakePayloadBytes)
        decoder.maxPayloadBytes = PeerFrameLimits.maxPayloadBytes
        let big = PeerFrame.request(id: 1, operation: 1, payload: [UInt8](repeating: 0, count: 2000))
        decoder.feed(try PeerFrameEncoder.encode(big))
        XCTAssertEqual(try decoder.next(), big)
    }

    func testEncoderRefusesPayloadOverTheLimit() {
        let frame = PeerFrame.oneway(operation: 1, payload: [UInt8](repeating: 0, count: PeerFrameLimits.maxPayloadBytes + 1))
        var buffer: [UInt8] = [9]
        XCTAssertThrowsError(try PeerFrameEncoder.encode(frame, into: &buffer))
        XCTAssertEqual(buffer, [9], "a refused frame leaves the buffer untouched")
    }

    func testBadMagicIsRefusedAtTheFirstByte() {
        var decoder = PeerFrameDecoder()
        decoder.feed(Array("G".utf8))
        XCTAssertThrowsError(try decoder.next()) { XCTAssertEqual($0 as? PeerFrameError, .badMagic(0x47, 0)) }
    }

    func testErrorIsStickyAfterTheStreamBreaks() throws {
        var decoder = PeerFrameDecoder()
        decoder.feed(Array("GET / HTTP/1.1\r\n".utf8))
        XCTAssertThrowsError(try decoder.next())
        decoder.feed(try PeerFrameEncoder.encode(.ping(id: 1)))
        XCTAssertThrowsError(try decoder.next()) { XCTAssertEqual($0 as? PeerFrameError, .badMagic(0x47, 0x45)) }
    }

    func testUnknownFormatVersionAndKindAreRefused() throws {
        var bytes = try PeerFrameEncoder.encode(.ping(id: 1))
        bytes[2] = 2
        var decoder = PeerFrameDecoder()
        decoder.feed(bytes)
        XCTAssertThrowsError(try decoder.next()) { XCTAssertEqual($0 as? PeerFrameError, .unsupportedFormatVersion(2)) }

        bytes[2] = 1
        bytes[3] = 0xEE
        var second = PeerFrameDecoder()
        second.feed(bytes)
        XCTAssertThrowsError(try second.next()) { XCTAssertEqual($0 as? PeerFrameError, .unknownKind(0xEE)) }
    }

    func testHeaderFieldRulesPerKind() {
        let refused: [(PeerFrame, PeerFrameError)] = [
            (PeerFrame(kind: .request, operation: 1, correlationId: 0), .missingCorrelationId(.request)),
            (PeerFrame(kind: .response, operation: 1, correlationId: 0), .missingCorrelationId(.response)),
            (PeerFrame(kind: .oneway, correlationId: 5), .unexpectedCorrelationId(.oneway)),
            (PeerFrame(kind: .hello, correlationId: 5), .unexpectedCorrelationId(.hello)),
            (PeerFrame(kind: .ping, operation: 3, correlationId: 5), .unexpectedOperation(.ping)),
            (PeerFrame(kind: .pong, correlationId: 5, payload: [1]), .unexpectedPayload(.pong)),
        ]
        for (frame, error) in refused {
            XCTAssertThrowsError(try PeerFrameEncoder.encode(frame)) { XCTAssertEqual($0 as? PeerFrameError, error) }
        }
    }

    func testDecoderAppliesHeaderRulesToo() {
        // A request with correlation id 0, written by hand.
        let bytes: [UInt8] = [0x52, 0x50, 1, 5, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]
        var decoder = PeerFrameDecoder()
        decoder.feed(bytes)
        XCTAssertThrowsError(try decoder.next()) { XCTAssertEqual($0 as? PeerFrameError, .missingCorrelationId(.request)) }
    }

    func testUnknownFlagBitsPassThrough() throws {
        let frame = PeerFrame(kind: .oneway, flags: PeerFrameFlags(rawValue: 0x8001), operation: 1)
        var decoder = PeerFrameDecoder()
        decoder.feed(try PeerFrameEncoder.encode(frame))
        XCTAssertEqual(try decoder.next()?.flags, PeerFrameFlags(rawValue: 0x8001))
    }

    func testGoAwayRoundTripsAndCutsLongReasonsAtACharacter() throws {
        let long = String(repeating: "é", count: 200)  // 400 bytes
        let goAway = PeerGoAway(code: .wrongCluster, reason: long)
        XCTAssertLessThanOrEqual(goAway.reason.utf8.count, PeerGoAway.maxReasonBytes)
        XCTAssertEqual(goAway.reason, String(repeating: "é", count: 127))
        XCTAssertEqual(try PeerGoAway(frame: goAway.frame), goAway)
    }
}
