import XCTest
@testable import Ring

/// XXH64 against the reference implementation's published sanity vectors (xxHash repository,
/// cli/xsum_sanity_check.c: the buffer below, hashed at several lengths with seed 0 and seed
/// PRIME32) and against a few plain strings (cross-checked with the reference C library).
final class StableHashTests: XCTestCase {
    private static let prime32: UInt64 = 2_654_435_761
    private static let prime64: UInt64 = 11_400_714_785_074_694_797

    /// XSUM_fillTestBuffer: the byte stream the xxHash sanity check hashes.
    private static func sanityBuffer(count: Int) -> [UInt8] {
        var generator = prime32
        return (0..<count).map { _ in
            defer { generator = generator &* prime64 }
            return UInt8(truncatingIfNeeded: generator >> 56)
        }
    }

    func testEmptyInputMatchesPublishedVectors() {
        XCTAssertEqual(StableHash.xxh64([], seed: 0), 0xEF46_DB37_51D8_E999)
        XCTAssertEqual(StableHash.xxh64("", seed: 0), 0xEF46_DB37_51D8_E999)
        XCTAssertEqual(StableHash.xxh64([], seed: 1), 0xD5AF_BA13_36A3_BE4B)
        XCTAssertEqual(StableHash.xxh64([], seed: Self.prime32), 0xAC75_FDA2_929B_17EF)
    }

    func testSanityBufferMatchesPublishedVectorsAtEveryTailLength() {
        // Lengths cover: 1 byte, one 4-byte word, 8+4+2 bytes of tail, exactly one 32-byte
        // stripe, and several stripes plus a 30-byte tail.
        let vectors: [(length: Int, seed: UInt64, hash: UInt64)] = [
            (1, 0, 0xE934_A84A_DB05_2768), (1, Self.prime32, 0x5014_6076_43A9_B4C3),
            (4, 0, 0x9136_A0DC_A574_57EE), (4, Self.prime32, 0xCAAB_286B_D8E9_FDB5),
            (14, 0, 0x8282_DCC4_994E_35C8), (14, Self.prime32, 0xC3BD_6BF6_3DEB_6DF0),
            (32, 0, 0x18B2_1649_2BB4_4B70), (32, Self.prime32, 0xB3F3_3BDF_93AD_E409),
            (222, 0, 0xB641_AE8C_B691_C174), (222, Self.prime32, 0x20CB_8AB7_AE10_C14A),
        ]
        let buffer = Self.sanityBuffer(count: 222)
        for vector in vectors {
            XCTAssertEqual(
                StableHash.xxh64(Array(buffer.prefix(vector.length)), seed: vector.seed), vector.hash,
                "length \(vector.length) seed \(vector.seed)")
        }
    }

    func testStringsHashTheirUTF8Bytes() {
        XCTAssertEqual(StableHash.xxh64("a"), 0xD24E_C4F1_A98C_6E5B)
        XCTAssertEqual(StableHash.xxh64("abc"), 0x44BC_2CF5_AD77_0999)
        XCTAssertEqual(StableHash.xxh64("abc", seed: 1), 0xBEA9_CA81_9932_8908)
        // 39 bytes: one stripe plus an 8-byte word and a 4-byte word and 3 single bytes.
        XCTAssertEqual(StableHash.xxh64("Nobody inspects the spammish repetition"), 0xFBCE_A83C_8A37_8BF1)
        XCTAssertEqual(StableHash.xxh64("user:alice"), 0x8491_8A73_8EB5_FFD6)
        let text = "conv:dm:ålice:bøb 💬"
        XCTAssertEqual(StableHash.xxh64(text, seed: 7), StableHash.xxh64(Array(text.utf8), seed: 7))
    }
}
