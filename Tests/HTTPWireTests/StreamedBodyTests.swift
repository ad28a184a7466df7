import HTTPWire
import XCTest

/// Streamed bodies (asset uploads): the head comes out alone, the body is taken in pieces,
/// its bound is its own, and the next request parses after it.
final class StreamedBodyTests: XCTestCase {
    func parser(maxStreamed: Int = 1_000) -> HTTPRequestParser {
        var limits = HTTPLimits(maxBodyBytes: 100)
        limits.streamedBodyPaths = ["POST /v1/assets"]
        limits.maxStreamedBodyBytes = maxStreamed
        return HTTPRequestParser(limits: limits)
    }

    func head(_ length: Int, path: String = "/v1/assets") -> [UInt8] {
        Array("POST \(path) HTTP/1.1\r\nHost: x\r\nContent-Length: \(length)\r\n\r\n".utf8)
    }

    func testTheHeadComesOutBeforeTheBodyWhichIsTakenInPieces() throws {
        var p = parser()
        p.feed(head(500) + [UInt8](repeating: 7, count: 300))
        let request = try XCTUnwrap(try p.next())
        XCTAssertEqual(request.streamedBodyBytes, 500)
        XCTAssertEqual(request.body, [])
        XCTAssertNil(try p.next(), "nothing more until the body is taken")
        XCTAssertEqual(p.takeStreamedBody(maxBytes: 200).count, 200)
        XCTAssertEqual(p.takeStreamedBody(maxBytes: 200).count, 100, "what has arrived")
        XCTAssertEqual(p.takeStreamedBody(maxBytes: 200), [])
        XCTAssertEqual(p.streamedBodyRemaining, 200)
        p.feed([UInt8](repeating: 8, count: 200) + Array("GET /next HTTP/1.1\r\nHost: x\r\n\r\n".utf8))
        XCTAssertEqual(p.takeStreamedBody(maxBytes: 1_000), [UInt8](repeating: 8, count: 200), "never past the body's end")
        XCTAssertEqual(p.streamedBodyRemaining, 0)
        XCTAssertEqual(try p.next()?.path, "/next")
    }

    func testAStreamedBodyOverItsBoundIsRefusedAtTheHead() {
        var p = parser()
        p.feed(head(1_001))
        XCTAssertThrowsError(try p.next()) { XCTAssertEqual(($0 as? HTTPParseError)?.status, 413) }
    }

    func testOtherRoutesKeepTheSmallBound() {
        var p = parser()
        p.feed(head(101, path: "/v1/messages"))
        XCTAssertThrowsError(try p.next()) { XCTAssertEqual(($0 as? HTTPParseError)?.status, 413) }
        var q = parser()
        q.feed(head(5, path: "/v1/messages") + Array("hello".utf8))
        XCTAssertEqual(try q.next()?.body, Array("hello".utf8))
    }
}
