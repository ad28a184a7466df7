import Hashing
import HTTPWire
import XCTest

/// Bounded random and mutation inputs: the parsers must never crash, must only fail with the
/// documented codes and must stay within their limits. Failures print the seed.
final class RobustnessTests: XCTestCase {
    static let seed: UInt64 = 0x5EED_6455
    static let inputsPerParser = 20_000

    func testHTTPParserSurvivesMutatedAndRandomInput() {
        var rng = SplitMix64(seed: Self.seed)
        let limits = HTTPLimits(maxHeaderBytes: 256, maxHeaderCount: 8, maxBodyBytes: 64)
        let corpus = [
            "GET /v1/x?y=1&z=%20 HTTP/1.1\r\nHost: h\r\nConnection: keep-alive\r\n\r\n",
            "POST /v1/messages HTTP/1.1\r\nHost: h\r\nContent-Length: 11\r\nContent-Type: application/json\r\n\r\n{\"a\":\"b\"}\r\nGET / HTTP/1.0\r\n\r\n",
            "GET /v1/ws?token=abc HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
            "OPTIONS * HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n",
        ].map(bytes)
        let interesting = bytes("\r\n :%?/&=+#\t\0") + [0x7F, 0x80, 0xFF]
        let allowed: Set<Int> = [400, 411, 413, 414, 431, 501, 505]
        var parsed = 0, rejected = 0
        for index in 0..<Self.inputsPerParser {
            let input: [UInt8]
            if index % 10 == 0 {
                input = (0..<Int.random(in: 0...300, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }
            } else {
                input = mutate(corpus[index % corpus.count], using: &rng, interesting: interesting)
            }
            var parser = HTTPRequestParser(limits: limits)
            var offset = 0
            feeding: while offset < input.count {
                let chunk = Int.random(in: 1...64, using: &rng)
                parser.feed(Array(input[offset..<min(offset + chunk, input.count)]))
                offset += chunk
                XCTAssertLessThanOrEqual(parser.bufferedByteCount, limits.maxHeaderBytes + limits.maxBodyBytes + 64 + 1,
                                         "seed \(Self.seed) input \(index)")
                do {
                    while let request = try parser.next() {
                        XCTAssertLessThanOrEqual(request.body.count, limits.maxBodyBytes)
                        XCTAssertTrue(HTTPRequest.allowedMethods.contains(request.method))
                        parsed += 1
                    }
                } catch {
                    XCTAssertTrue(allowed.contains(error.status), "seed \(Self.seed) input \(index): \(error)")
                    rejected += 1
                    break feeding
                }
            }
        }
        // Both paths must be exercised, or the run proves nothing.
        XCTAssertGreaterThan(parsed, 1_000, "seed \(Self.seed)")
        XCTAssertGreaterThan(rejected, 1_000, "seed \(Self.seed)")
    }

    func testWebSocketReaderSurvivesMutatedAndRandomInput() {
        var read = 0, rejected = 0
        var rng = SplitMix64(seed: Self.seed)
        let limits = WebSocketLimits(maxFrameBytes: 200, maxMessageBytes: 300)
        let mask: [UInt8] = [0x12, 0x34, 0x56, 0x78]
        let corpus: [[UInt8]] = [
            WebSocketWriter.text("Hello, wörld", mask: mask),
            WebSocketWriter.frame(.text, bytes("frag"), fin: false, mask: mask) + WebSocketWriter.ping([1], mask: mask)
                + WebSocketWriter.frame(.continuation, bytes("ment"), mask: mask),
            WebSocketWriter.frame(.binary, (0..<150).map { UInt8($0) }, mask: mask),
            WebSocketWriter.close(code: 1000, reason: "bye", mask: mask),
            WebSocketWriter.pong([1, 2, 3], mask: mask) + WebSocketWriter.text("€", mask: mask),
        ]
        let interesting: [UInt8] = [0x00, 0x01, 0x08, 0x09, 0x0A, 0x7E, 0x7F, 0x80, 0x81, 0x88, 0xFF, 0xC3, 0xE2]
        let allowed: Set<UInt16> = [1002, 1007, 1009]
        for index in 0..<Self.inputsPerParser {
            let input: [UInt8]
            if index % 10 == 0 {
                input = (0..<Int.random(in: 0...300, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }
            } else {
                input = mutate(corpus[index % corpus.count], using: &rng, interesting: interesting)
            }
            var reader = WebSocketReader(limits: limits, role: .server)
            var offset = 0
            feeding: while offset < input.count {
                let chunk = Int.random(in: 1...64, using: &rng)
                reader.feed(Array(input[offset..<min(offset + chunk, input.count)]))
                offset += chunk
                do {
                    while let message = try reader.next() {
                        switch message {
                        case .binary(let b): XCTAssertLessThanOrEqual(b.count, limits.maxMessageBytes)
                        case .text(let t): XCTAssertLessThanOrEqual(t.utf8.count, limits.maxMessageBytes)
                        case .ping(let p), .pong(let p): XCTAssertLessThanOrEqual(p.count, 125)
                        case .close(let code, _):
                            if let code { XCTAssertGreaterThanOrEqual(code, 1000) }
                        }
                        read += 1
                    }
                } catch {
                    XCTAssertTrue(allowed.contains(error.closeCode), "seed \(Self.seed) input \(index): \(error)")
                    rejected += 1
                    break feeding
                }
            }
        }
        XCTAssertGreaterThan(read, 1_000, "seed \(Self.seed)")
        XCTAssertGreaterThan(rejected, 1_000, "seed \(Self.seed)")
    }
}
