import HTTPWire
import XCTest

final class WebSocketHandshakeTests: XCTestCase {
    /// RFC 6455 section 1.2 / 1.3.
    let sampleKey = "dGhlIHNhbXBsZSBub25jZQ=="
    let sampleAccept = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="

    private func upgrade(_ extra: String = "", method: String = "GET", version: String = "HTTP/1.1",
                         key: String? = "dGhlIHNhbXBsZSBub25jZQ==", wsVersion: String? = "13",
                         connection: String = "Upgrade", upgrade: String = "websocket") throws -> HTTPRequest {
        var text = "\(method) /chat HTTP/1.1\r\nHost: server.example.com\r\nUpgrade: \(upgrade)\r\nConnection: \(connection)\r\n"
        if let key { text += "Sec-WebSocket-Key: \(key)\r\n" }
        if let wsVersion { text += "Sec-WebSocket-Version: \(wsVersion)\r\n" }
        text += extra + "\r\n"
        var request = try parseRequests(bytes(text)).get()[0]
        request.version = version
        return request
    }

    private func status(_ result: Result<String, HTTPParseError>) -> Int? {
        if case .failure(let error) = result { return error.status }
        return nil
    }

    func testAcceptKeyMatchesRFC6455Example() {
        XCTAssertEqual(WebSocketHandshake.acceptKey(forClientKey: sampleKey), sampleAccept)
    }

    func testRFCSampleRequestIsAccepted() throws {
        let request = try upgrade("Origin: http://example.com\r\nSec-WebSocket-Protocol: chat\r\n")
        XCTAssertEqual(try WebSocketHandshake.validate(request).get(), sampleAccept)
    }

    func testConnectionHeaderListContainingUpgradeIsAccepted() throws {
        XCTAssertEqual(try WebSocketHandshake.validate(try upgrade(connection: "keep-alive, upgrade")).get(), sampleAccept)
        XCTAssertEqual(try WebSocketHandshake.validate(try upgrade(upgrade: "WebSocket")).get(), sampleAccept)
    }

    func testInvalidUpgradeRequestsAre400() throws {
        XCTAssertEqual(status(WebSocketHandshake.validate(try upgrade(method: "POST"))), 400)
        XCTAssertEqual(status(WebSocketHandshake.validate(try upgrade(version: "HTTP/1.0"))), 400)
        XCTAssertEqual(status(WebSocketHandshake.validate(try upgrade(connection: "keep-alive"))), 400)
        XCTAssertEqual(status(WebSocketHandshake.validate(try upgrade(upgrade: "h2c"))), 400)
        XCTAssertEqual(status(WebSocketHandshake.validate(try upgrade(key: nil))), 400)
        XCTAssertEqual(status(WebSocketHandshake.validate(try upgrade(key: "c2hvcnQ="))), 400, "5 bytes")
        XCTAssertEqual(status(WebSocketHandshake.validate(try upgrade(key: "not base64!!"))), 400)
        XCTAssertEqual(status(WebSocketHandshake.validate(try upgrade(wsVersion: nil))), 400)
    }

    func testPOSTUpgradeIsRejected() throws {
        var request = try upgrade()
        request.method = "POST"
        XCTAssertEqual(status(WebSocketHandshake.validate(request)), 400)
    }

    func testWrongVersionIs426WithTheSupportedVersion() throws {
        let result = WebSocketHandshake.validate(try upgrade(wsVersion: "8"))
        guard case .failure(let error) = result else { return XCTFail("accepted version 8") }
        XCTAssertEqual(error.status, 426)
        XCTAssertEqual(WebSocketHandshake.rejectionHeaders(for: error)["Sec-WebSocket-Version"], "13")
    }

    func testSwitchingProtocolsResponseBytes() {
        XCTAssertEqual(String(decoding: WebSocketHandshake.response(acceptKey: sampleAccept), as: UTF8.self),
                       "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n")
    }

    func testClientAndServerHandshakeAgreeAndFramesAfterTheHeadAreKept() throws {
        let key = try XCTUnwrap(WebSocketHandshake.clientKey(randomBytes: Array(0..<16)))
        let request = try parseRequests(WebSocketHandshake.clientRequest(host: "relay:8080", target: "/v1/ws?token=t", key: key)).get()[0]
        XCTAssertEqual(request.query["token"], "t")
        let accept = try WebSocketHandshake.validate(request).get()
        let frame = WebSocketWriter.text("hi")
        let received = WebSocketHandshake.response(acceptKey: accept) + frame
        guard case .accepted(let headBytes) = WebSocketHandshake.parseServerResponse(received, key: key) else {
            return XCTFail("client refused a valid handshake")
        }
        XCTAssertEqual(Array(received[headBytes...]), frame)
        XCTAssertTrue(WebSocketHandshake.checkServerResponse(received, key: key))
    }

    func testClientRefusesWrongAcceptNon101AndWaitsForAPartialHead() {
        let good = WebSocketHandshake.response(acceptKey: sampleAccept)
        XCTAssertEqual(WebSocketHandshake.parseServerResponse(Array(good.prefix(30)), key: sampleKey), .needMoreBytes)
        XCTAssertFalse(WebSocketHandshake.checkServerResponse(WebSocketHandshake.response(acceptKey: "AAAA"), key: sampleKey))
        let forbidden = HTTPResponse(status: 403).serialize(keepAlive: false)
        XCTAssertEqual(WebSocketHandshake.parseServerResponse(forbidden, key: sampleKey),
                       .rejected(status: 403, reason: "server did not switch protocols"))
    }

    func testClientKeyNeedsSixteenBytes() {
        XCTAssertNil(WebSocketHandshake.clientKey(randomBytes: [1, 2, 3]))
    }

    func testClientRequestCannotBeSplitByItsArguments() throws {
        let raw = WebSocketHandshake.clientRequest(host: "h\r\nX-Evil: 1", target: "/a b", key: sampleKey)
        let request = try parseRequests(raw).get()[0]
        XCTAssertNil(request.headers["X-Evil"])
        XCTAssertEqual(request.target, "/ab")
    }
}
