import Foundation
import Hashing
import XCTest

final class SHA256StreamTests: XCTestCase {
    func testPiecesOfAnySizeGiveTheOneShotDigest() {
        var data: [UInt8] = []
        for i in 0..<1_000 { data.append(UInt8(truncatingIfNeeded: i &* 31 &+ 7)) }
        let expected = SHA256.hash(data)
        for pieceSize in [1, 3, 63, 64, 65, 128, 999, 1_000] {
            var stream = SHA256Stream()
            var offset = 0
            while offset < data.count {
                let end = min(offset + pieceSize, data.count)
                stream.update(Array(data[offset..<end]))
                offset = end
            }
            XCTAssertEqual(stream.finish(), expected, "piece size \(pieceSize)")
        }
    }

    func testEmptyInputIsTheFIPSVector() {
        var stream = SHA256Stream()
        XCTAssertEqual(Hex.encode(stream.finish()), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
    }

    /// Assets are hashed on the loop as they arrive: 16 MiB must take well under a second even
    /// in the debug build tests run (the Hashing target is built with -O).
    func testSixteenMebibytesHashQuickly() {
        let chunk = [UInt8](repeating: 0xAB, count: 256 * 1024)
        var stream = SHA256Stream()
        let start = Date()
        for _ in 0..<64 { stream.update(chunk) }
        _ = stream.finish()
        let seconds = Date().timeIntervalSince(start)
        print("SHA256Stream: 16 MiB in \(seconds) s (\(16 / seconds) MiB/s)")
        XCTAssertLessThan(seconds, 1.0)
    }
}
