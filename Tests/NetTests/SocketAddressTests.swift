import XCTest
@testable import Net

final class SocketAddressTests: XCTestCase {
    func testParsesAndPrintsIPv4AndBracketedIPv6() throws {
        XCTAssertEqual(try SocketAddress(parsing: "127.0.0.1:7001").description, "127.0.0.1:7001")
        XCTAssertEqual(try SocketAddress(parsing: "[::1]:8080").description, "[::1]:8080")
        XCTAssertEqual(try SocketAddress(parsing: "localhost:1").description, "127.0.0.1:1")
        XCTAssertEqual(try SocketAddress(host: "0.0.0.0", port: 0).port, 0)
    }

    func testRejectsMalformedAddressesWithEINVAL() {
        for text in ["::1:80", "1.2.3.4:99999", "1.2.3.4:", ":80", "example.com:80", "1.2.3.4:8a",
                     "1.2.3.4", "", "[::1]:-1", String(repeating: "9", count: 10_000)] {
            XCTAssertThrowsError(try SocketAddress(parsing: text), text) { error in
                XCTAssertEqual((error as? NetError)?.errno, EINVAL, text)
            }
        }
    }
}
