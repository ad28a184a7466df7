import Hashing
import XCTest

final class Base64Tests: XCTestCase {
    /// RFC 4648 section 10.
    let vectors: [(String, String)] = [
        ("", ""), ("f", "Zg=="), ("fo", "Zm8="), ("foo", "Zm9v"),
        ("foob", "Zm9vYg=="), ("fooba", "Zm9vYmE="), ("foobar", "Zm9vYmFy"),
    ]

    func testRFC4648Section10VectorsEncode() {
        for (plain, encoded) in vectors {
            XCTAssertEqual(Base64.encode(bytes(plain)), encoded, plain)
        }
    }

    func testRFC4648Section10VectorsDecode() {
        for (plain, encoded) in vectors {
            XCTAssertEqual(Base64.decode(encoded), bytes(plain), encoded)
        }
    }

    func testURLVariantDropsPaddingAndUsesDashUnderscore() {
        XCTAssertEqual(Base64.encodeURL(bytes("f")), "Zg")
        XCTAssertEqual(Base64.encodeURL(bytes("foobar")), "Zm9vYmFy")
        XCTAssertEqual(Base64.encodeURL([0xFB, 0xFF, 0xBF]), "-_-_")
        XCTAssertEqual(Base64.encode([0xFB, 0xFF, 0xBF]), "+/+/")
        XCTAssertEqual(Base64.decodeURL("-_-_"), [0xFB, 0xFF, 0xBF])
        XCTAssertEqual(Base64.decodeURL("Zm9vYmE"), bytes("fooba"))
    }

    func testAllByteValuesRoundTripInBothAlphabets() {
        for length in 0..<70 {
            let data = (0..<length).map { UInt8(truncatingIfNeeded: $0 &* 37 &+ 11) }
            XCTAssertEqual(Base64.decode(Base64.encode(data)), data)
            XCTAssertEqual(Base64.decodeURL(Base64.encodeURL(data)), data)
        }
    }

    func testStrictDecodeRejectsMalformedInput() {
        let bad = ["Zg", "Zg=", "Zg===", "Z===", "Zm9v\n", " Zm9v", "Zm9v!A==", "Zh==", "Zm9=",
                   "=Zm9", "Zm=v", "-_-_", "Zm9vY"]
        for text in bad { XCTAssertNil(Base64.decode(text), text) }
    }

    func testStrictURLDecodeRejectsPaddingAndStandardAlphabet() {
        for text in ["Zg==", "+/+/", "Z", "Zh", "Zm9vYmF=", "Zm 9"] {
            XCTAssertNil(Base64.decodeURL(text), text)
        }
    }

    func testNonASCIIInputIsRejected() {
        XCTAssertNil(Base64.decode("Zm9é"))
    }
}
