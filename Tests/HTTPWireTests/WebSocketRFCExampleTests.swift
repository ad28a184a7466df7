import HTTPWire
import XCTest

/// RFC 6455 section 5.7, byte for byte, in both directions.
final class WebSocketRFCExampleTests: XCTestCase {
    let hello = bytes("Hello")
    let mask: [UInt8] = [0x37, 0xFA, 0x21, 0x3D]

    func testSingleFrameUnmaskedText() {
        let frame: [UInt8] = [0x81, 0x05, 0x48, 0x65, 0x6C, 0x6C, 0x6F]
        XCTAssertEqual(WebSocketWriter.text("Hello"), frame)
        XCTAssertEqual(try readMessages(frame, role: .client).get(), [.text("Hello")])
    }

    func testSingleFrameMaskedText() {
        let frame: [UInt8] = [0x81, 0x85, 0x37, 0xFA, 0x21, 0x3D, 0x7F, 0x9F, 0x4D, 0x51, 0x58]
        XCTAssertEqual(WebSocketWriter.text("Hello", mask: mask), frame)
        XCTAssertEqual(try readMessages(frame, role: .server).get(), [.text("Hello")])
    }

    func testFragmentedUnmaskedText() {
        let first: [UInt8] = [0x01, 0x03, 0x48, 0x65, 0x6C]
        let second: [UInt8] = [0x80, 0x02, 0x6C, 0x6F]
        XCTAssertEqual(WebSocketWriter.frame(.text, bytes("Hel"), fin: false), first)
        XCTAssertEqual(WebSocketWriter.frame(.continuation, bytes("lo")), second)
        XCTAssertEqual(try readMessages(first + second, role: .client).get(), [.text("Hello")])
    }

    func testUnmaskedPingAndMaskedPong() {
        let ping: [UInt8] = [0x89, 0x05, 0x48, 0x65, 0x6C, 0x6C, 0x6F]
        let pong: [UInt8] = [0x8A, 0x85, 0x37, 0xFA, 0x21, 0x3D, 0x7F, 0x9F, 0x4D, 0x51, 0x58]
        XCTAssertEqual(WebSocketWriter.ping(hello), ping)
        XCTAssertEqual(WebSocketWriter.pong(hello, mask: mask), pong)
        XCTAssertEqual(try readMessages(ping, role: .client).get(), [.ping(hello)])
        XCTAssertEqual(try readMessages(pong, role: .server).get(), [.pong(hello)])
    }

    func test256ByteBinaryUses16BitLength() {
        let payload = (0..<256).map { UInt8($0) }
        let frame = WebSocketWriter.frame(.binary, payload)
        XCTAssertEqual(Array(frame.prefix(4)), [0x82, 0x7E, 0x01, 0x00])
        XCTAssertEqual(frame.count, 4 + 256)
        XCTAssertEqual(try readMessages(frame).get(), [.binary(payload)])
    }

    func test64KiBBinaryUses64BitLength() {
        let payload = (0..<65536).map { UInt8(truncatingIfNeeded: $0 &* 7) }
        let frame = WebSocketWriter.frame(.binary, payload)
        XCTAssertEqual(Array(frame.prefix(10)), [0x82, 0x7F, 0, 0, 0, 0, 0, 0x01, 0x00, 0x00])
        XCTAssertEqual(frame.count, 10 + 65536)
        XCTAssertEqual(try readMessages(frame).get(), [.binary(payload)])
    }
}
