import HTTPWire
import XCTest

final class HTTPRequestParserTests: XCTestCase {
    func testSimpleGetIsParsedIntoItsParts() throws {
        let requests = try parseRequests(bytes(
            "GET /v1/users/al%20ice/x?y=1&name=a+b%21&flag HTTP/1.1\r\nHost: example\r\nX-Thing:  padded value \t\r\n\r\n")).get()
        XCTAssertEqual(requests.count, 1)
        let r = requests[0]
        XCTAssertEqual(r.method, "GET")
        XCTAssertEqual(r.target, "/v1/users/al%20ice/x?y=1&name=a+b%21&flag")
        XCTAssertEqual(r.path, "/v1/users/al ice/x")
        XCTAssertEqual(r.pathSegments, ["v1", "users", "al ice", "x"])
        XCTAssertEqual(r.query, ["y": "1", "name": "a b!", "flag": ""])
        XCTAssertEqual(r.version, "HTTP/1.1")
        XCTAssertEqual(r.headers["host"], "example")
        XCTAssertEqual(r.headers["X-THING"], "padded value")
        XCTAssertEqual(r.body, [])
        XCTAssertTrue(r.keepAlive)
    }

    func testEncodedSlashStaysInsideItsSegmentAndEmptySegmentsAreDropped() throws {
        let r = try parseRequests(bytes("GET //a%2Fb//c/ HTTP/1.1\r\nHost: h\r\n\r\n")).get()[0]
        XCTAssertEqual(r.pathSegments, ["a/b", "c"])
        XCTAssertEqual(r.path, "//a/b//c/")
        let root = try parseRequests(bytes("GET / HTTP/1.1\r\nHost: h\r\n\r\n")).get()[0]
        XCTAssertEqual(root.pathSegments, [])
    }

    /// Issue 8: two `token` parameters were accepted, the last one winning. No parameter of
    /// ours takes two values, so a repeated key is a 400 (two readers could pick different ones).
    func testRepeatedQueryKeyIsRefusedAndEmptyPairsAreSkipped() throws {
        XCTAssertEqual(rejectionStatus("GET /?a=1&a=2 HTTP/1.1\r\nHost: h\r\n\r\n"), 400)
        let r = try parseRequests(bytes("GET /?a=2&&b=%3D HTTP/1.1\r\nHost: h\r\n\r\n")).get()[0]
        XCTAssertEqual(r.query, ["a": "2", "b": "="])
    }

    func testARepeatedSingleValueHeaderIsRefused() {
        XCTAssertEqual(rejectionStatus("GET / HTTP/1.1\r\nHost: h\r\nAuthorization: Bearer a\r\nauthorization: Bearer b\r\n\r\n"), 400)
        XCTAssertNil(rejectionStatus("GET / HTTP/1.1\r\nHost: h\r\nAccept: a\r\nAccept: b\r\n\r\n"))
    }

    func testAbsoluteFormAndAsteriskFormTargets() throws {
        let absolute = try parseRequests(bytes("GET http://example.com:80/a/b?c=d HTTP/1.1\r\nHost: example.com\r\n\r\n")).get()[0]
        XCTAssertEqual(absolute.path, "/a/b")
        XCTAssertEqual(absolute.query, ["c": "d"])
        let star = try parseRequests(bytes("OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n")).get()[0]
        XCTAssertEqual(star.path, "*")
        XCTAssertEqual(rejectionStatus("GET * HTTP/1.1\r\nHost: h\r\n\r\n"), 400)
    }

    func testPostBodyIsReadByContentLength() throws {
        let r = try parseRequests(bytes("POST /m HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello")).get()[0]
        XCTAssertEqual(r.body, bytes("hello"))
    }

    func testRequestFedOneByteAtATimeComesOutOnceComplete() throws {
        let input = bytes("POST /m HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabcGET /n HTTP/1.1\r\nHost: h\r\n\r\n")
        var parser = HTTPRequestParser()
        var requests: [HTTPRequest] = []
        for byte in input {
            parser.feed([byte])
            while let r = try parser.next() { requests.append(r) }
        }
        XCTAssertEqual(requests.map(\.path), ["/m", "/n"])
        XCTAssertEqual(requests[0].body, bytes("abc"))
        XCTAssertFalse(parser.isMidRequest)
        XCTAssertEqual(parser.bufferedByteCount, 0)
    }

    func testPipelinedRequestsComeOutInOrder() throws {
        let one = "GET /1 HTTP/1.1\r\nHost: h\r\n\r\n"
        let two = "POST /2 HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\n\r\nhi"
        let three = "DELETE /3 HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n"
        let requests = try parseRequests(bytes(one + two + three)).get()
        XCTAssertEqual(requests.map(\.method), ["GET", "POST", "DELETE"])
        XCTAssertEqual(requests.map(\.keepAlive), [true, true, false])
        XCTAssertEqual(requests[1].body, bytes("hi"))
    }

    func testPartialSecondRequestIsKeptAndReportedAsMidRequest() throws {
        var parser = HTTPRequestParser()
        parser.feed(bytes("GET /1 HTTP/1.1\r\nHost: h\r\n\r\nGET /2 HT"))
        XCTAssertEqual(try parser.next()?.path, "/1")
        XCTAssertNil(try parser.next())
        XCTAssertTrue(parser.isMidRequest)
        XCTAssertEqual(parser.bufferedByteCount, 9)
        parser.feed(bytes("TP/1.1\r\nHost: h\r\n\r\n"))
        XCTAssertEqual(try parser.next()?.path, "/2")
        XCTAssertFalse(parser.isMidRequest)
    }

    func testBodyArrivingLaterCompletesTheRequest() throws {
        var parser = HTTPRequestParser()
        parser.feed(bytes("PUT /x HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\n\r\nab"))
        XCTAssertNil(try parser.next())
        XCTAssertTrue(parser.isMidRequest)
        parser.feed(bytes("cd"))
        XCTAssertEqual(try parser.next()?.body, bytes("abcd"))
    }

    func testEmptyLinesBeforeARequestAreIgnored() throws {
        var parser = HTTPRequestParser()
        parser.feed(bytes("\r\n\r\n"))
        XCTAssertNil(try parser.next())
        XCTAssertFalse(parser.isMidRequest)
        parser.feed(bytes("GET / HTTP/1.1\r\nHost: h\r\n\r\n"))
        XCTAssertEqual(try parser.next()?.path, "/")
    }

    func testKeepAliveFollowsVersionAndConnectionHeader() throws {
        func keepAlive(_ version: String, _ connection: String?) throws -> Bool {
            let header = connection.map { "Connection: \($0)\r\n" } ?? ""
            return try parseRequests(bytes("GET / \(version)\r\nHost: h\r\n\(header)\r\n")).get()[0].keepAlive
        }
        XCTAssertTrue(try keepAlive("HTTP/1.1", nil))
        XCTAssertFalse(try keepAlive("HTTP/1.1", "close"))
        XCTAssertFalse(try keepAlive("HTTP/1.1", "foo, Close"))
        XCTAssertFalse(try keepAlive("HTTP/1.0", nil))
        XCTAssertTrue(try keepAlive("HTTP/1.0", "Keep-Alive"))
    }

    func testHTTP10WithoutHostIsAccepted() throws {
        XCTAssertEqual(try parseRequests(bytes("GET / HTTP/1.0\r\n\r\n")).get().count, 1)
    }

    func testTakeBufferedBytesReturnsWhatFollowsTheUpgradeRequest() throws {
        var parser = HTTPRequestParser()
        parser.feed(bytes("GET /v1/ws HTTP/1.1\r\nHost: h\r\n\r\n") + [0x81, 0x85, 1, 2])
        XCTAssertEqual(try parser.next()?.path, "/v1/ws")
        XCTAssertEqual(parser.bufferedByteCount, 4)
        XCTAssertEqual(parser.takeBufferedBytes(), [0x81, 0x85, 1, 2])
        XCTAssertEqual(parser.bufferedByteCount, 0)
    }

    func testExpectContinueIsSignalledOnceWhileTheBodyIsMissing() throws {
        var parser = HTTPRequestParser()
        parser.feed(bytes("POST /a HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n"))
        XCTAssertNil(try parser.next())
        XCTAssertTrue(parser.takeContinueRequest())
        XCTAssertFalse(parser.takeContinueRequest())
        parser.feed(bytes("ok"))
        XCTAssertEqual(try parser.next()?.body, bytes("ok"))
    }

    func testBodyOfExactlyTheLimitIsAccepted() throws {
        let limits = HTTPLimits(maxHeaderBytes: 1024, maxHeaderCount: 10, maxBodyBytes: 8)
        let r = try parseRequests(bytes("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 8\r\n\r\n12345678"), limits: limits).get()
        XCTAssertEqual(r[0].body.count, 8)
    }

    func testLargeBodyAcrossManyFeedsIsReassembledAfterCompaction() throws {
        var parser = HTTPRequestParser()
        let body = (0..<200_000).map { UInt8(truncatingIfNeeded: $0) }
        let head = bytes("GET /warm HTTP/1.1\r\nHost: h\r\n\r\n")
        parser.feed(head)
        XCTAssertNotNil(try parser.next())
        parser.feed(bytes("POST /big HTTP/1.1\r\nHost: h\r\nContent-Length: 200000\r\n\r\n"))
        var received: HTTPRequest?
        for start in stride(from: 0, to: body.count, by: 7_000) {
            parser.feed(Array(body[start..<min(start + 7_000, body.count)]))
            if let r = try parser.next() { received = r }
        }
        XCTAssertEqual(received?.body, body)
    }

    func testRequestBuiltDirectlyDerivesPathAndQuery() throws {
        let r = try HTTPRequest(method: "GET", target: "/v1/ws?token=a%2Bb")
        XCTAssertEqual(r.pathSegments, ["v1", "ws"])
        XCTAssertEqual(r.query["token"], "a+b")
        XCTAssertTrue(r.keepAlive)
    }
}
