import HTTPWire
import XCTest

/// Each protocol violation of RFC 6455 section 5 fails the connection with one close code.
final class WebSocketRejectionTests: XCTestCase {
    func testReservedBitsAre1002() {
        for bit: UInt8 in [0x40, 0x20, 0x10] {
            XCTAssertEqual(closeCode([0x81 | bit, 0x01, 0x61]), 1002)
        }
    }

    func testReservedOpcodesAre1002() {
        for opcode: UInt8 in [3, 4, 5, 6, 7, 0xB, 0xC, 0xD, 0xE, 0xF] {
            XCTAssertEqual(closeCode([0x80 | opcode, 0x00]), 1002, "opcode \(opcode)")
        }
    }

    func testControlFrameLongerThan125Is1002() {
        XCTAssertEqual(closeCode([0x89, 126, 0, 126] + [UInt8](repeating: 0, count: 126)), 1002)
        XCTAssertEqual(closeCode([0x89, 126]), 1002, "visible from the first two bytes")
    }

    func testFragmentedControlFrameIs1002() {
        XCTAssertEqual(closeCode([0x09, 0x00]), 1002)
    }

    func testContinuationWithoutAStartIs1002() {
        XCTAssertEqual(closeCode(WebSocketWriter.frame(.continuation, [1])), 1002)
    }

    func testNewDataFrameDuringAFragmentedMessageIs1002() {
        let start = WebSocketWriter.frame(.text, bytes("a"), fin: false)
        XCTAssertEqual(closeCode(start + WebSocketWriter.text("b")), 1002)
        XCTAssertEqual(closeCode(start + WebSocketWriter.frame(.binary, [1], fin: false)), 1002)
    }

    func testSixtyFourBitLengthWithTopBitSetIs1002() {
        XCTAssertEqual(closeCode([0x82, 127, 0x80, 0, 0, 0, 0, 0, 0, 1]), 1002)
    }

    func testUnmaskedFrameToServerIs1002() {
        XCTAssertEqual(closeCode(WebSocketWriter.text("hi"), role: .server), 1002)
    }

    func testMaskedFrameToClientIs1002() {
        XCTAssertEqual(closeCode(WebSocketWriter.text("hi", mask: [1, 2, 3, 4]), role: .client), 1002)
    }

    func testFrameOverTheLimitIs1009FromItsHeaderAlone() {
        let limits = WebSocketLimits(maxFrameBytes: 100, maxMessageBytes: 1000)
        XCTAssertEqual(closeCode([0x82, 126, 0, 101], limits: limits), 1009)
        XCTAssertEqual(closeCode([0x82, 127, 0, 0, 0x10, 0, 0, 0, 0, 0]), 1009, "a 16 TiB claim")
    }

    func testReassembledMessageOverTheLimitIs1009BeforeTheLastPayloadArrives() {
        let limits = WebSocketLimits(maxFrameBytes: 100, maxMessageBytes: 150)
        let first = WebSocketWriter.frame(.binary, [UInt8](repeating: 1, count: 100), fin: false)
        XCTAssertEqual(closeCode(first + [0x80, 51], limits: limits), 1009)
        XCTAssertNil(closeCode(first + WebSocketWriter.frame(.continuation, [UInt8](repeating: 1, count: 50)), limits: limits))
    }

    func testInvalidUTF8TextIs1007() {
        for payload: [UInt8] in [[0xFF], [0xC0, 0x80], [0xED, 0xA0, 0x80], [0xF4, 0x90, 0x80, 0x80],
                                 [0xE2, 0x82], [0x61, 0x80], [0xF8, 0x88, 0x80, 0x80, 0x80]] {
            XCTAssertEqual(closeCode(WebSocketWriter.frame(.text, payload)), 1007, "\(payload)")
        }
    }

    func testValidMultibyteTextIsAccepted() throws {
        let text = "aé€😀" + String(repeating: "x", count: 20) + "\u{10FFFF}"
        XCTAssertEqual(try readMessages(WebSocketWriter.text(text)).get(), [.text(text)])
    }

    func testTextInvalidOnlyAcrossFragmentsIs1007() {
        let input = WebSocketWriter.frame(.text, [0xE2], fin: false) + WebSocketWriter.frame(.continuation, [0x61])
        XCTAssertEqual(closeCode(input), 1007)
    }

    func testOneByteCloseBodyIs1002() {
        XCTAssertEqual(closeCode([0x88, 0x01, 0x03]), 1002)
    }

    func testCloseCodesThatMayNotBeSentAre1002() {
        for code: UInt16 in [0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535] {
            XCTAssertEqual(closeCode([0x88, 0x02, UInt8(code >> 8), UInt8(code & 0xFF)]), 1002, "code \(code)")
        }
    }

    func testCloseReasonThatIsNotUTF8Is1007() {
        XCTAssertEqual(closeCode([0x88, 0x04, 0x03, 0xE8, 0xC3, 0x28]), 1007)
    }

    func testErrorIsStickyAndReleasesTheBuffer() {
        var reader = WebSocketReader(role: .client)
        reader.feed([0x83, 0x00] + WebSocketWriter.text("ok"))
        XCTAssertThrowsError(try reader.next())
        reader.feed(WebSocketWriter.text("ok"))
        XCTAssertEqual(reader.bufferedByteCount, 0)
        XCTAssertThrowsError(try reader.next()) { XCTAssertEqual(($0 as? WebSocketError)?.closeCode, 1002) }
    }
}
