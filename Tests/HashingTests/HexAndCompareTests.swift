import Hashing
import XCTest

final class HexAndCompareTests: XCTestCase {
    func testHexRoundTripAndRFC4648Base16Vector() {
        XCTAssertEqual(Hex.encode(bytes("foobar")), "666f6f626172")
        XCTAssertEqual(Hex.decode("666F6F626172"), bytes("foobar"))
        XCTAssertEqual(Hex.decode(""), [])
    }

    func testHexRejectsOddLengthAndForeignCharacters() {
        XCTAssertNil(Hex.decode("abc"))
        XCTAssertNil(Hex.decode("zz"))
        XCTAssertNil(Hex.decode("0x00"))
    }

    func testConstantTimeEquals() {
        XCTAssertTrue(constantTimeEquals([1, 2, 3], [1, 2, 3]))
        XCTAssertTrue(constantTimeEquals([], []))
        XCTAssertFalse(constantTimeEquals([1, 2, 3], [1, 2, 4]))
        XCTAssertFalse(constantTimeEquals([1, 2, 3], [1, 2]))
    }

    func testWebSocketAcceptKeyFromRFC6455Section1_3() {
        // base64(SHA-1(key + GUID)), the handshake example of RFC 6455 section 1.3.
        let input = bytes("dGhlIHNhbXBsZSBub25jZQ==" + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11")
        XCTAssertEqual(Base64.encode(SHA1.hash(input)), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=")
    }
}
