import HTTPWire
import XCTest

final class HTTPResponseTests: XCTestCase {
    func testJSONResponseSerializesStatusHeadersLengthConnectionAndBody() {
        let bytes = HTTPResponse.json(200, #"{"ok":true}"#).serialize(keepAlive: true)
        XCTAssertEqual(String(decoding: bytes, as: UTF8.self),
                       "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 11\r\nConnection: keep-alive\r\n\r\n{\"ok\":true}")
    }

    func testCloseResponseSaysConnectionClose() {
        let text = String(decoding: HTTPResponse(status: 404).serialize(keepAlive: false), as: UTF8.self)
        XCTAssertEqual(text, "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
    }

    func testCallerContentLengthAndConnectionAreReplaced() {
        let response = HTTPResponse(status: 200, headers: HTTPHeaders([("content-length", "99"), ("Connection", "x")]), body: [1, 2])
        let text = String(decoding: response.serialize(keepAlive: true), as: UTF8.self)
        XCTAssertEqual(text, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: keep-alive\r\n\r\n\u{1}\u{2}")
    }

    func testHeaderValuesCannotSplitTheResponse() {
        let response = HTTPResponse(status: 302, headers: HTTPHeaders([("Location", "/a\r\nSet-Cookie: x=1"), ("Bad Name", "v")]))
        let text = String(decoding: response.serialize(keepAlive: true), as: UTF8.self)
        XCTAssertEqual(text, "HTTP/1.1 302 Found\r\nLocation: /a  Set-Cookie: x=1\r\nContent-Length: 0\r\nConnection: keep-alive\r\n\r\n")
    }

    func testHeadResponseKeepsLengthButDropsBody() {
        let text = String(decoding: HTTPResponse(status: 200, body: [1, 2, 3]).serialize(keepAlive: true, includeBody: false), as: UTF8.self)
        XCTAssertEqual(text, "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nConnection: keep-alive\r\n\r\n")
    }

    func testNoContentHasNeitherLengthNorBody() {
        let text = String(decoding: HTTPResponse(status: 204, body: [1]).serialize(keepAlive: true), as: UTF8.self)
        XCTAssertEqual(text, "HTTP/1.1 204 No Content\r\nConnection: keep-alive\r\n\r\n")
    }

    func testReasonPhrases() {
        XCTAssertEqual(HTTPResponse.reasonPhrase(431), "Request Header Fields Too Large")
        XCTAssertEqual(HTTPResponse.reasonPhrase(413), "Content Too Large")
        XCTAssertEqual(HTTPResponse.reasonPhrase(799), "Unknown")
    }

    func testHeadersLookupIsCaseInsensitiveAndOrdered() {
        var headers = HTTPHeaders([("A", "1")])
        headers.add("a", "2")
        headers.add("Connection", "keep-alive, Upgrade")
        XCTAssertEqual(headers["a"], "1")
        XCTAssertEqual(headers.values("A"), ["1", "2"])
        XCTAssertTrue(headers.containsToken("connection", "upgrade"))
        XCTAssertFalse(headers.containsToken("connection", "up"))
        headers.set("A", "3")
        XCTAssertEqual(headers.values("a"), ["3"])
        XCTAssertEqual(headers.map(\.name), ["Connection", "A"])
    }
}
