import Net
import Peer
import XCTest

/// Runs `loop` until a callback stops it. A guard timer stops it after `timeoutMs` and fails
/// the test, so a broken test fails instead of hanging.
func runLoop(_ loop: EventLoop, timeoutMs: Int64 = 5_000, file: StaticString = #filePath, line: UInt = #line) {
    var timedOut = false
    let guardTimer = loop.schedule(afterMs: timeoutMs) {
        timedOut = true
        loop.stop()
    }
    loop.run()
    loop.cancel(guardTimer)
    XCTAssertFalse(timedOut, "the loop was still running after \(timeoutMs) ms", file: file, line: line)
}

/// What the node passes as `random`: the OS generator. Tests need real randomness here: two
/// nodes drawing the same nonce are refused as a reflected connection.
func systemRandom(_ count: Int) -> [UInt8] {
    var generator = SystemRandomNumberGenerator()
    return (0..<count).map { _ in UInt8.random(in: .min ... .max, using: &generator) }
}

let testHost = "127.0.0.1"

extension XCTestCase {
    /// A loop that is shut down when the test ends, closing the sockets tests leave open.
    func makeLoop() throws -> EventLoop {
        let loop = try EventLoop()
        addTeardownBlock { loop.shutdown() }
        return loop
    }

    /// A transport listening on 127.0.0.1 (`port` 0: a free one).
    func makeNode(
        _ loop: EventLoop, _ id: String, cluster: String = "test-cluster", secret: String = "change-me",
        port: Int = 0, configure: (inout PeerSettings) -> Void = { _ in }
    ) throws -> PeerTransport {
        var settings = PeerSettings(clusterName: cluster, nodeID: id, secret: Array(secret.utf8))
        configure(&settings)
        let transport = PeerTransport(loop: loop, settings: settings, random: systemRandom)
        try transport.listen(host: testHost, port: port)
        addTeardownBlock { transport.close() }
        return transport
    }
}

/// Tells `node` where `peer` listens.
func introduce(_ node: PeerTransport, to peer: PeerTransport) {
    node.setPeer(peer.settings.nodeID, address: "\(testHost):\(peer.listeningPort ?? 0)")
}

/// A request's index as its payload.
func indexPayload(_ index: Int) -> [UInt8] {
    withUnsafeBytes(of: UInt32(index).bigEndian) { Array($0) }
}

func index(of payload: [UInt8]) -> Int {
    payload.reduce(0) { $0 << 8 | Int($1) }
}
