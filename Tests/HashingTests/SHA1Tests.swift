import Hashing
import XCTest

/// Vectors from RFC 3174 section 7.3 and FIPS 180 appendix A.
final class SHA1Tests: XCTestCase {
    func testAbcMatchesRFC3174() {
        XCTAssertEqual(hex(SHA1.hash(bytes("abc"))), "a9993e364706816aba3e25717850c26c9cd0d89d")
    }

    func testEmptyInput() {
        XCTAssertEqual(hex(SHA1.hash([])), "da39a3ee5e6b4b0d3255bfef95601890afd80709")
    }

    func test448BitMessageSpanningTwoBlocks() {
        let message = bytes("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq")
        XCTAssertEqual(hex(SHA1.hash(message)), "84983e441c3bd26ebaae4aa1f95129e5e54670f1")
    }

    func testOneMillionA() {
        let message = [UInt8](repeating: UInt8(ascii: "a"), count: 1_000_000)
        XCTAssertEqual(hex(SHA1.hash(message)), "34aa973cd4c4daa4f61eeb2bdbad27316534016f")
    }

    func testRepeated0123456701234567TimesEighty() {
        // RFC 3174 section 7.3, TEST4.
        let message = bytes(String(repeating: "0123456701234567012345670123456701234567012345670123456701234567", count: 10))
        XCTAssertEqual(hex(SHA1.hash(message)), "dea356a2cddd90c7a7ecedc5ebb563934f460452")
    }

    func testLengthsAroundThePaddingBoundaryDiffer() {
        // 55, 56, 63, 64, 65 bytes exercise the one- and two-block padding paths.
        let digests = [55, 56, 63, 64, 65].map { SHA1.hash([UInt8](repeating: 0x61, count: $0)) }
        XCTAssertEqual(Set(digests.map(hex)).count, 5)
        XCTAssertEqual(hex(digests[3]), "0098ba824b5c16427bd7a1122a5a442a25ec644d")
    }
}
