import HTTPWire
import XCTest

/// Every malformed or oversized request maps to one status (docs/HTTP.md).
final class HTTPRejectionTests: XCTestCase {
    private func request(_ headers: String, line: String = "GET / HTTP/1.1") -> String {
        "\(line)\r\nHost: h\r\n\(headers)\r\n"
    }

    func testObsoleteLineFoldingIsRejected() {
        XCTAssertEqual(rejectionStatus(request("X-A: 1\r\n  continued\r\n")), 400)
        XCTAssertEqual(rejectionStatus(request("X-A: 1\r\n\tcontinued\r\n")), 400)
    }

    func testBareCRAndBareLFAreRejected() {
        XCTAssertEqual(rejectionStatus("GET / HTTP/1.1\rHost: h\r\n\r\n"), 400)
        XCTAssertEqual(rejectionStatus(request("X-A: a\rb\r\n")), 400)
        XCTAssertEqual(rejectionStatus("GET / HTTP/1.1\nHost: h\r\n\r\n"), 400)
        XCTAssertEqual(rejectionStatus("GET / HTTP/1.1\r\nHost: h\n\n"), 400)
    }

    func testWhitespaceBeforeColonIsRejected() {
        XCTAssertEqual(rejectionStatus(request("Content-Length : 0\r\n")), 400)
        XCTAssertEqual(rejectionStatus(request("X-A\t: 1\r\n")), 400)
    }

    func testInvalidHeaderNamesAreRejected() {
        for name in ["X(A)", "X/A", "X\"A", "", "Ä", "X@A"] {
            XCTAssertEqual(rejectionStatus(request("\(name): 1\r\n")), 400, name)
        }
        XCTAssertEqual(rejectionStatus(request("NoColonHere\r\n")), 400)
    }

    func testControlCharactersInValuesAreRejected() {
        XCTAssertEqual(rejectionStatus(request("X-A: a\u{0}b\r\n")), 400)
        XCTAssertEqual(rejectionStatus(request("X-A: a\u{7F}b\r\n")), 400)
        XCTAssertNil(rejectionStatus(request("X-A: a\tb\r\n")))
    }

    func testDuplicateContentLengthIsRejectedEvenWhenEqual() {
        XCTAssertEqual(rejectionStatus(request("Content-Length: 1\r\nContent-Length: 1\r\n") + "a"), 400)
        XCTAssertEqual(rejectionStatus(request("Content-Length: 1, 1\r\n") + "a"), 400)
    }

    func testInvalidContentLengthIsRejected() {
        for value in ["-1", "+1", "1a", "0x10", "1 2", "", " "] {
            XCTAssertEqual(rejectionStatus(request("Content-Length: \(value)\r\n")), 400, value)
        }
    }

    func testHugeOrOverLimitContentLengthIs413() {
        XCTAssertEqual(rejectionStatus(request("Content-Length: 99999999999999999999999999\r\n")), 413)
        XCTAssertEqual(rejectionStatus(request("Content-Length: \(HTTPLimits.default.maxBodyBytes + 1)\r\n")), 413)
    }

    func testOverLimitBodyIsRefusedBeforeItArrives() {
        var parser = HTTPRequestParser(limits: HTTPLimits(maxHeaderBytes: 1024, maxHeaderCount: 10, maxBodyBytes: 10))
        parser.feed(bytes(request("Content-Length: 11\r\n")))
        XCTAssertThrowsError(try parser.next()) { XCTAssertEqual(($0 as? HTTPParseError)?.status, 413) }
    }

    func testTransferEncodingIs411() {
        XCTAssertEqual(rejectionStatus(request("Transfer-Encoding: chunked\r\n") + "0\r\n\r\n"), 411)
        XCTAssertEqual(rejectionStatus(request("Transfer-Encoding: chunked\r\nContent-Length: 5\r\n")), 411)
    }

    func testUnknownMethodIs501AndMalformedMethodIs400() {
        XCTAssertEqual(rejectionStatus(request("", line: "BREW / HTTP/1.1")), 501)
        XCTAssertEqual(rejectionStatus(request("", line: "CONNECT h:443 HTTP/1.1")), 501)
        XCTAssertEqual(rejectionStatus(request("", line: "get / HTTP/1.1")), 501)
        XCTAssertEqual(rejectionStatus(request("", line: "G(T / HTTP/1.1")), 400)
    }

    func testOtherHTTPVersionsAre505AndGarbageIs400() {
        XCTAssertEqual(rejectionStatus(request("", line: "GET / HTTP/2.0")), 505)
        XCTAssertEqual(rejectionStatus(request("", line: "GET / HTTP/0.9")), 505)
        XCTAssertEqual(rejectionStatus(request("", line: "GET / HTTP/1.10")), 400)
        XCTAssertEqual(rejectionStatus(request("", line: "GET / HTTPS/1.1")), 400)
        XCTAssertEqual(rejectionStatus(request("", line: "GET / http/1.1")), 400)
    }

    func testMalformedRequestLinesAre400() {
        for line in ["GET  / HTTP/1.1", "GET / HTTP/1.1 ", "GET /", "GET", " GET / HTTP/1.1",
                     "GET /a b HTTP/1.1", "GET a HTTP/1.1", "GET /#frag HTTP/1.1", "GET /%zz HTTP/1.1",
                     "GET /%00 HTTP/1.1", "GET /%ff HTTP/1.1", "GET /?q=%c3%28 HTTP/1.1", "GET ftp://x/ HTTP/1.1",
                     "GET http:///x HTTP/1.1", "GET /\u{7F} HTTP/1.1"] {
            XCTAssertEqual(rejectionStatus(request("", line: line)), 400, line)
        }
    }

    func testHostMustAppearExactlyOnceInHTTP11() {
        XCTAssertEqual(rejectionStatus("GET / HTTP/1.1\r\n\r\n"), 400)
        XCTAssertEqual(rejectionStatus("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"), 400)
    }

    func testTooManyHeaderFieldsIs431() {
        let limits = HTTPLimits(maxHeaderBytes: 16 * 1024, maxHeaderCount: 5, maxBodyBytes: 10)
        let four = (0..<4).map { "X-\($0): v\r\n" }.joined()
        XCTAssertNil(rejectionStatus(request(four), limits: limits))
        XCTAssertEqual(rejectionStatus(request(four + "X-5: v\r\n"), limits: limits), 431)
    }

    func testHeadOverTheByteLimitIs431EvenIfNextIsNeverCalled() {
        let limits = HTTPLimits(maxHeaderBytes: 100, maxHeaderCount: 100, maxBodyBytes: 10)
        var parser = HTTPRequestParser(limits: limits)
        parser.feed(bytes("GET / HTTP/1.1\r\nHost: h\r\n"))
        for _ in 0..<20 { parser.feed(bytes("X-Padding: 123456789\r\n")) }
        XCTAssertEqual(parser.bufferedByteCount, 0, "the failed parser must release its buffer")
        XCTAssertThrowsError(try parser.next()) { XCTAssertEqual(($0 as? HTTPParseError)?.status, 431) }
    }

    func testCompleteHeadOverTheByteLimitIs431() {
        let limits = HTTPLimits(maxHeaderBytes: 40, maxHeaderCount: 100, maxBodyBytes: 10)
        XCTAssertEqual(rejectionStatus("GET / HTTP/1.1\r\nHost: h\r\nX-A: 12345678901234\r\n\r\n", limits: limits), 431)
        XCTAssertNil(rejectionStatus("GET / HTTP/1.1\r\nHost: h\r\nX-A: 1\r\n\r\n", limits: limits))
    }

    func testRequestLineOverTheLimitIs414() {
        let limits = HTTPLimits(maxHeaderBytes: 64, maxHeaderCount: 100, maxBodyBytes: 10)
        XCTAssertEqual(rejectionStatus("GET /" + String(repeating: "a", count: 100), limits: limits), 414)
    }

    func testFailureIsStickyAndLaterBytesAreIgnored() {
        var parser = HTTPRequestParser()
        parser.feed(bytes("BREW / HTTP/1.1\r\nHost: h\r\n\r\n"))
        XCTAssertThrowsError(try parser.next())
        parser.feed(bytes("GET / HTTP/1.1\r\nHost: h\r\n\r\n"))
        XCTAssertEqual(parser.bufferedByteCount, 0)
        XCTAssertThrowsError(try parser.next()) { XCTAssertEqual(($0 as? HTTPParseError)?.status, 501) }
    }

    func testValidRequestAfterABadOneInTheSamePipelineIsNeverReturned() {
        let result = parseRequests(bytes("GET / HTTP/1.1\r\nHost: h\r\n\r\nGET / HTTP/1.1\r\nBad Header: x\r\n\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n"))
        var parser = HTTPRequestParser()
        parser.feed(bytes("GET / HTTP/1.1\r\nHost: h\r\n\r\nGET / HTTP/1.1\r\nBad Header: x\r\n\r\n"))
        XCTAssertNotNil(try parser.next())
        XCTAssertThrowsError(try parser.next())
        if case .success = result { XCTFail("pipeline with a bad request must fail") }
    }
}
