import Hashing
import XCTest

/// RFC 4231 section 4, HMAC-SHA-256 test cases 1-7.
final class HMACTests: XCTestCase {
    func testCase1ShortKey() {
        let mac = HMAC.sha256(key: [UInt8](repeating: 0x0B, count: 20), message: bytes("Hi There"))
        XCTAssertEqual(hex(mac), "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7")
    }

    func testCase2KeyShorterThanOutput() {
        let mac = HMAC.sha256(key: bytes("Jefe"), message: bytes("what do ya want for nothing?"))
        XCTAssertEqual(hex(mac), "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843")
    }

    func testCase3CombinedKeyAndDataLongerThan64() {
        let mac = HMAC.sha256(key: [UInt8](repeating: 0xAA, count: 20),
                              message: [UInt8](repeating: 0xDD, count: 50))
        XCTAssertEqual(hex(mac), "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe")
    }

    func testCase4() {
        let key = (1...25).map { UInt8($0) }
        let mac = HMAC.sha256(key: key, message: [UInt8](repeating: 0xCD, count: 50))
        XCTAssertEqual(hex(mac), "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b")
    }

    func testCase5TruncatedTo128Bits() {
        let mac = HMAC.sha256(key: [UInt8](repeating: 0x0C, count: 20), message: bytes("Test With Truncation"))
        XCTAssertEqual(hex(Array(mac.prefix(16))), "a3b6167473100ee06e0c796c2955552b")
    }

    func testCase6KeyLargerThanBlockIsHashedFirst() {
        let mac = HMAC.sha256(key: [UInt8](repeating: 0xAA, count: 131),
                              message: bytes("Test Using Larger Than Block-Size Key - Hash Key First"))
        XCTAssertEqual(hex(mac), "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54")
    }

    func testCase7LargeKeyAndLargeData() {
        let message = bytes("This is a test using a larger than block-size key and a larger than block-size data. The key needs to be hashed before being used by the HMAC algorithm.")
        let mac = HMAC.sha256(key: [UInt8](repeating: 0xAA, count: 131), message: message)
        XCTAssertEqual(hex(mac), "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2")
    }
}
