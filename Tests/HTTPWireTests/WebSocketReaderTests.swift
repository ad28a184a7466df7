import HTTPWire
import XCTest

final class WebSocketReaderTests: XCTestCase {
    let mask: [UInt8] = [0xA1, 0x02, 0xF3, 0x44]

    func testMaskedFramesOfEveryLengthRoundTripThroughTheServerReader() throws {
        for length in [0, 1, 7, 8, 9, 125, 126, 127, 65535, 65536, 100_003] {
            let payload = (0..<length).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 5) }
            let frame = WebSocketWriter.frame(.binary, payload, mask: mask)
            XCTAssertEqual(try readMessages(frame, role: .server).get(), [.binary(payload)], "length \(length)")
        }
    }

    func testFramesFedOneByteAtATimeGiveTheSameMessages() throws {
        var input = WebSocketWriter.frame(.text, bytes("Hé"), fin: false, mask: mask)
        input += WebSocketWriter.ping([9], mask: mask)
        input += WebSocketWriter.frame(.continuation, bytes("llo"), mask: mask)
        input += WebSocketWriter.frame(.binary, [1, 2, 3], mask: mask)
        input += WebSocketWriter.close(code: 1000, reason: "bye", mask: mask)
        var reader = WebSocketReader(role: .server)
        var messages: [WebSocketMessage] = []
        for byte in input {
            reader.feed([byte])
            while let m = try reader.next() { messages.append(m) }
        }
        XCTAssertEqual(messages, [.ping([9]), .text("Héllo"), .binary([1, 2, 3]), .close(code: 1000, reason: "bye")])
    }

    func testTruncatedFrameNeedsMoreBytes() throws {
        let frame = WebSocketWriter.text("Hello")
        var reader = WebSocketReader(role: .client)
        reader.feed(Array(frame.prefix(4)))
        XCTAssertNil(try reader.next())
        reader.feed(Array(frame.dropFirst(4)))
        XCTAssertEqual(try reader.next(), .text("Hello"))
        XCTAssertEqual(reader.bufferedByteCount, 0)
    }

    func testControlFramesMayInterleaveFragments() throws {
        let input = WebSocketWriter.frame(.binary, [1], fin: false)
            + WebSocketWriter.pong([7]) + WebSocketWriter.frame(.continuation, [2], fin: false)
            + WebSocketWriter.ping([]) + WebSocketWriter.frame(.continuation, [3])
        XCTAssertEqual(try readMessages(input).get(), [.pong([7]), .ping([]), .binary([1, 2, 3])])
    }

    func testUTF8CharacterSplitAcrossFragmentsIsValid() throws {
        let euro = bytes("€")   // E2 82 AC
        let input = WebSocketWriter.frame(.text, [euro[0]], fin: false)
            + WebSocketWriter.frame(.continuation, [euro[1], euro[2]])
        XCTAssertEqual(try readMessages(input).get(), [.text("€")])
    }

    func testNonMinimalLengthEncodingsAreAccepted() throws {
        let sixteen: [UInt8] = [0x82, 126, 0, 2, 0xAB, 0xCD]
        let sixtyFour: [UInt8] = [0x82, 127, 0, 0, 0, 0, 0, 0, 0, 1, 0xEF]
        XCTAssertEqual(try readMessages(sixteen + sixtyFour).get(), [.binary([0xAB, 0xCD]), .binary([0xEF])])
    }

    func testCloseWithoutBodyHasNoCode() throws {
        XCTAssertEqual(try readMessages([0x88, 0x00]).get(), [.close(code: nil, reason: "")])
    }

    func testNothingIsReadAfterClose() throws {
        var reader = WebSocketReader(role: .client)
        reader.feed(WebSocketWriter.close(code: 1001) + WebSocketWriter.text("late"))
        XCTAssertEqual(try reader.next(), .close(code: 1001, reason: ""))
        XCTAssertNil(try reader.next())
        reader.feed(WebSocketWriter.text("later"))
        XCTAssertNil(try reader.next())
        XCTAssertEqual(reader.bufferedByteCount, 0)
    }

    func testAllowedCloseCodesAreAccepted() throws {
        for code: UInt16 in [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 3999, 4000, 4999] {
            XCTAssertEqual(try readMessages(WebSocketWriter.close(code: code, reason: "r")).get(),
                           [.close(code: code, reason: "r")], "code \(code)")
        }
    }

    func testWriterCutsLongCloseReasonAtACharacterBoundary() throws {
        let reason = String(repeating: "é", count: 100)   // 200 bytes
        let frame = WebSocketWriter.close(code: 1000, reason: reason)
        XCTAssertEqual(frame[1], 124)   // 2 code bytes + 61 two-byte characters
        XCTAssertEqual(try readMessages(frame).get(), [.close(code: 1000, reason: String(repeating: "é", count: 61))])
    }

    func testAppendFrameBuildsSeveralFramesInOneBuffer() throws {
        var out: [UInt8] = []
        WebSocketWriter.appendText("a", to: &out)
        WebSocketWriter.appendFrame(.binary, [1, 2], to: &out)
        XCTAssertEqual(out, [0x81, 1, 0x61, 0x82, 2, 1, 2])
    }
}
