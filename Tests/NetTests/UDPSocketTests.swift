import XCTest
@testable import Net

final class UDPSocketTests: XCTestCase {
    func testDatagramRoundTrip() throws {
        let loop = try makeLoop()
        var responder: UDPSocket?
        responder = try loop.bindUDP(host: "127.0.0.1", port: 0) { bytes, from in
            XCTAssertEqual(bytes, Array("ping".utf8))
            XCTAssertNil(responder?.send(Array("pong".utf8), to: from))
        }
        var reply: [UInt8] = []
        var replyFrom = ""
        let asker = try loop.bindUDP(host: "127.0.0.1", port: 0) { bytes, from in
            reply = bytes
            replyFrom = from
            loop.stop()
        }
        let port = try XCTUnwrap(responder?.port)
        XCTAssertNil(asker.send(Array("ping".utf8), to: "127.0.0.1:\(port)"))
        runLoop(loop)
        XCTAssertEqual(reply, Array("pong".utf8))
        XCTAssertEqual(replyFrom, "127.0.0.1:\(port)")
    }

    func testSendRejectsBadAddressesAndOversizedDatagrams() throws {
        let loop = try makeLoop()
        let socket = try loop.bindUDP(host: "127.0.0.1", port: 0) { _, _ in }
        XCTAssertEqual(socket.send([1], to: "nowhere")?.errno, EINVAL)
        XCTAssertEqual(socket.send([UInt8](repeating: 0, count: UDPSocket.maxDatagramBytes + 1), to: "127.0.0.1:9")?.errno, EMSGSIZE)
        socket.close()
        XCTAssertEqual(socket.send([1], to: "127.0.0.1:9")?.errno, EBADF)
    }
}
