import Wire
import XCTest

final class FrameBatchTests: XCTestCase {
    func testBatchHoldsManyFramesInOneBufferThatDecodesBack() throws {
        var batch = FrameBatch(maxBatchBytes: 1 << 20)
        let frames = (1...100).map { PeerFrame.oneway(operation: 2, payload: [UInt8(truncatingIfNeeded: $0)]) }
        for frame in frames { XCTAssertFalse(try batch.append(frame)) }
        XCTAssertEqual(batch.frameCount, 100)
        let bytes = batch.take()
        XCTAssertEqual(bytes.count, 100 * (PeerFrameLimits.headerBytes + 1))
        XCTAssertTrue(batch.isEmpty)
        XCTAssertEqual(batch.bytes, [])
        var decoder = PeerFrameDecoder()
        decoder.feed(bytes)
        XCTAssertEqual(try drain(&decoder), frames)
    }

    func testBatchAsksForAFlushOnceFull() throws {
        var batch = FrameBatch(maxBatchBytes: 100)
        let frame = PeerFrame.oneway(operation: 1, payload: [UInt8](repeating: 0, count: 30))  // 50 bytes
        XCTAssertFalse(try batch.append(frame))
        XCTAssertFalse(batch.wouldOverflow(frame))
        XCTAssertTrue(try batch.append(frame))
        XCTAssertTrue(batch.shouldFlush)
        XCTAssertTrue(batch.wouldOverflow(frame))
    }

    func testOversizedFrameStillGoesOutAlone() throws {
        var batch = FrameBatch(maxBatchBytes: 64)
        let big = PeerFrame.oneway(operation: 1, payload: [UInt8](repeating: 0, count: 500))
        XCTAssertFalse(batch.wouldOverflow(big), "an empty batch takes any legal frame")
        XCTAssertTrue(try batch.append(big))
        XCTAssertEqual(batch.take().count, 520)
    }

    func testRefusedFrameLeavesTheBatchUnchanged() throws {
        var batch = FrameBatch()
        try batch.append(.ping(id: 1))
        XCTAssertThrowsError(try batch.append(PeerFrame(kind: .request, correlationId: 0)))
        XCTAssertEqual(batch.frameCount, 1)
        XCTAssertEqual(batch.bytes.count, PeerFrameLimits.headerBytes)
    }
}
