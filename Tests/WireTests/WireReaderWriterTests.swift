import Wire
import XCTest

final class WireReaderWriterTests: XCTestCase {
    func testIntegersAreBigEndianAndRoundTrip() throws {
        var writer = WireWriter()
        writer.writeU8(0xAB)
        writer.writeU16(0x0102)
        writer.writeU32(0x0304_0506)
        writer.writeU64(0x0708_090A_0B0C_0D0E)
        XCTAssertEqual(writer.bytes, [0xAB, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14])
        var reader = WireReader(writer.bytes)
        XCTAssertEqual(try reader.readU8(), 0xAB)
        XCTAssertEqual(try reader.readU16(), 0x0102)
        XCTAssertEqual(try reader.readU32(), 0x0304_0506)
        XCTAssertEqual(try reader.readU64(), 0x0708_090A_0B0C_0D0E)
        XCTAssertNoThrow(try reader.expectEnd())
    }

    func testVarintMatchesProtobufEncoding() throws {
        // protobuf "Base 128 Varints": 150 is 96 01; 300 is ac 02.
        let cases: [(UInt64, [UInt8])] = [
            (0, [0]), (1, [1]), (127, [0x7F]), (128, [0x80, 1]), (150, [0x96, 1]), (300, [0xAC, 2]),
            (UInt64.max, [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 1]),
        ]
        for (value, bytes) in cases {
            var writer = WireWriter()
            writer.writeVarint(value)
            XCTAssertEqual(writer.bytes, bytes, "\(value)")
            var reader = WireReader(bytes)
            XCTAssertEqual(try reader.readVarint(), value)
            XCTAssertTrue(reader.isAtEnd)
        }
    }

    func testVarintPast64BitsIsOverflow() {
        var tenthByteTooBig = WireReader([0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 2])
        XCTAssertThrowsError(try tenthByteTooBig.readVarint()) { XCTAssertEqual($0 as? WireError, .varintOverflow) }
        var elevenBytes = WireReader([UInt8](repeating: 0x80, count: 11))
        XCTAssertThrowsError(try elevenBytes.readVarint()) { XCTAssertEqual($0 as? WireError, .varintOverflow) }
    }

    func testBytesAndStringsRoundTrip() throws {
        var writer = WireWriter()
        writer.writeBytes([1, 2, 3])
        writer.writeString("héllo")
        writer.writeShortString("n1")
        var reader = WireReader(writer.bytes)
        XCTAssertEqual(try reader.readBytes(maxBytes: 3), [1, 2, 3])
        XCTAssertEqual(try reader.readString(maxBytes: 100), "héllo")
        XCTAssertEqual(try reader.readShortString(maxBytes: 64), "n1")
        XCTAssertTrue(reader.isAtEnd)
    }

    func testTruncatedReadThrowsInsteadOfTrapping() {
        var reader = WireReader([0, 0, 0])
        XCTAssertThrowsError(try reader.readU32()) {
            XCTAssertEqual($0 as? WireError, .truncated(needed: 4, available: 3))
        }
        var shortBytes = WireReader([0, 0, 0, 5, 1, 2])
        XCTAssertThrowsError(try shortBytes.readBytes(maxBytes: 100)) {
            XCTAssertEqual($0 as? WireError, .truncated(needed: 5, available: 2))
        }
    }

    func testLengthAboveBoundIsRefusedBeforeCopying() {
        var reader = WireReader([0xFF, 0xFF, 0xFF, 0xFF])
        XCTAssertThrowsError(try reader.readBytes(maxBytes: 1024)) {
            XCTAssertEqual($0 as? WireError, .lengthTooLarge(length: 0xFFFF_FFFF, max: 1024))
        }
    }

    func testInvalidUTF8IsRefused() {
        // 0xC0 0xAF is an overlong encoding of "/"; 0xED 0xA0 0x80 a UTF-16 surrogate.
        for bad: [UInt8] in [[0xC0, 0xAF], [0xED, 0xA0, 0x80], [0xFF]] {
            var reader = WireReader([UInt8(bad.count)] + bad)
            XCTAssertThrowsError(try reader.readShortString(maxBytes: 64)) {
                XCTAssertEqual($0 as? WireError, .invalidUTF8)
            }
        }
    }

    func testTrailingBytesAreReported() {
        var reader = WireReader([1, 2, 3])
        XCTAssertEqual(try reader.readU8(), 1)
        XCTAssertThrowsError(try reader.expectEnd()) { XCTAssertEqual($0 as? WireError, .trailingBytes(count: 2)) }
    }
}
