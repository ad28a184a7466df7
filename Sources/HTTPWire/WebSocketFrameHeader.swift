/// The fixed part of a frame (RFC 6455 5.2): FIN, RSV1-3, opcode, MASK, payload length
/// (7 bits, or 16 / 64 bits after 126 / 127) and the masking key.
struct WebSocketFrameHeader: Equatable {
    var fin: Bool
    var opcode: WebSocketOpcode
    var maskKey: (UInt8, UInt8, UInt8, UInt8)?
    var payloadLength: UInt64
    /// Header bytes, 2 to 14.
    var headerBytes: Int

    enum Outcome {
        case needMoreBytes
        case header(WebSocketFrameHeader)
    }

    /// Parses the header at the start of `bytes`, checking only what the header alone shows.
    static func parse(_ bytes: UnsafeRawBufferPointer) throws(WebSocketError) -> Outcome {
        guard bytes.count >= 2 else { return .needMoreBytes }
        let b0 = bytes[0], b1 = bytes[1]
        // 5.2: RSV bits MUST be 0 unless an extension defines them; we negotiate none.
        guard b0 & 0x70 == 0 else { throw .protocolError("reserved bits set") }
        guard let opcode = WebSocketOpcode(rawValue: b0 & 0x0F) else {
            throw .protocolError("reserved opcode \(b0 & 0x0F)")
        }
        let fin = b0 & 0x80 != 0
        let masked = b1 & 0x80 != 0
        let length7 = b1 & 0x7F
        let lengthBytes = length7 == 127 ? 8 : (length7 == 126 ? 2 : 0)
        let headerBytes = 2 + lengthBytes + (masked ? 4 : 0)
        // 5.5: control frames carry at most 125 bytes and are never fragmented. Both are
        // visible in the first two bytes, so check before waiting for the rest.
        if opcode.isControl {
            guard fin else { throw .protocolError("fragmented control frame") }
            guard length7 <= 125 else { throw .protocolError("control frame longer than 125 bytes") }
        }
        guard bytes.count >= headerBytes else { return .needMoreBytes }
        var length = UInt64(length7)
        if lengthBytes > 0 {
            length = 0
            for i in 0..<lengthBytes { length = length << 8 | UInt64(bytes[2 + i]) }
            // 5.2: "the most significant bit MUST be 0". Non-minimal encodings are accepted.
            guard length >> 63 == 0 else { throw .protocolError("64-bit length with the top bit set") }
        }
        var key: (UInt8, UInt8, UInt8, UInt8)?
        if masked {
            let k = 2 + lengthBytes
            key = (bytes[k], bytes[k + 1], bytes[k + 2], bytes[k + 3])
        }
        return .header(WebSocketFrameHeader(
            fin: fin, opcode: opcode, maskKey: key, payloadLength: length, headerBytes: headerBytes))
    }

    static func == (a: WebSocketFrameHeader, b: WebSocketFrameHeader) -> Bool {
        a.fin == b.fin && a.opcode == b.opcode && a.payloadLength == b.payloadLength
            && a.headerBytes == b.headerBytes
            && a.maskKey.map { [$0.0, $0.1, $0.2, $0.3] } == b.maskKey.map { [$0.0, $0.1, $0.2, $0.3] }
    }
}
