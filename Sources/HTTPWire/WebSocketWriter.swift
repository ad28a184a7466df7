/// Builds frames (RFC 6455 5.2). Server frames are unmasked; client frames carry a 4-byte
/// mask that the caller draws from a strong random source (5.3) and passes in.
///
/// A mask that is not 4 bytes is a programming error in our own client code (it never comes
/// from the network), so it stops the process.
public enum WebSocketWriter {
    /// Control payloads longer than this are truncated (5.5: at most 125 bytes).
    public static let maxControlPayloadBytes = 125

    /// One frame.
    public static func frame(_ opcode: WebSocketOpcode, _ payload: [UInt8], fin: Bool = true, mask: [UInt8]? = nil) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(payload.count + 14)
        appendFrame(opcode, payload, fin: fin, mask: mask, to: &out)
        return out
    }

    /// Appends one frame to `out`, copying the payload once (and masking it in place).
    public static func appendFrame(_ opcode: WebSocketOpcode, _ payload: [UInt8], fin: Bool = true, mask: [UInt8]? = nil, to out: inout [UInt8]) {
        payload.withUnsafeBytes { appendFrame(opcode, $0, fin: fin, mask: mask, to: &out) }
    }

    /// Appends one frame whose payload is in any contiguous memory (a String's UTF-8, a slice).
    public static func appendFrame(_ opcode: WebSocketOpcode, _ payload: UnsafeRawBufferPointer, fin: Bool = true, mask: [UInt8]? = nil, to out: inout [UInt8]) {
        var length = payload.count
        if opcode.isControl { length = min(length, maxControlPayloadBytes) }
        let body = UnsafeRawBufferPointer(rebasing: payload[0..<length])
        out.append((fin ? 0x80 : 0) | opcode.rawValue)
        let maskBit: UInt8 = mask == nil ? 0 : 0x80
        // 5.2: the minimal length encoding (7 bits, then 16, then 64).
        if length <= 125 {
            out.append(maskBit | UInt8(length))
        } else if length <= 0xFFFF {
            out.append(maskBit | 126)
            out.append(UInt8(truncatingIfNeeded: length >> 8))
            out.append(UInt8(truncatingIfNeeded: length))
        } else {
            out.append(maskBit | 127)
            for shift in stride(from: 56, through: 0, by: -8) {
                out.append(UInt8(truncatingIfNeeded: UInt64(length) >> UInt64(shift)))
            }
        }
        guard let mask else {
            out.append(contentsOf: body)
            return
        }
        precondition(mask.count == 4, "WebSocket mask must be 4 bytes, got \(mask.count)")
        out.append(contentsOf: mask)
        let start = out.count
        out.append(contentsOf: body)
        WebSocketMasking.apply(key: (mask[0], mask[1], mask[2], mask[3]), to: &out, range: start..<out.count)
    }

    public static func text(_ text: String, mask: [UInt8]? = nil) -> [UInt8] {
        var out: [UInt8] = []
        appendText(text, mask: mask, to: &out)
        return out
    }

    /// Appends a text frame straight from the string's UTF-8 storage.
    public static func appendText(_ text: String, mask: [UInt8]? = nil, to out: inout [UInt8]) {
        var text = text
        text.withUTF8 { utf8 in appendFrame(.text, UnsafeRawBufferPointer(utf8), mask: mask, to: &out) }
    }

    public static func binary(_ payload: [UInt8], mask: [UInt8]? = nil) -> [UInt8] {
        frame(.binary, payload, mask: mask)
    }

    /// A Close frame (5.5.1). The reason is cut to 123 bytes at a character boundary so the
    /// body fits a control frame and stays UTF-8.
    public static func close(code: UInt16, reason: String = "", mask: [UInt8]? = nil) -> [UInt8] {
        var payload: [UInt8] = [UInt8(code >> 8), UInt8(code & 0xFF)]
        var reasonBytes = 0
        for scalar in reason.unicodeScalars {
            let size = String(scalar).utf8.count
            guard reasonBytes + size <= maxControlPayloadBytes - 2 else { break }
            payload.append(contentsOf: String(scalar).utf8)
            reasonBytes += size
        }
        return frame(.close, payload, mask: mask)
    }

    public static func ping(_ payload: [UInt8], mask: [UInt8]? = nil) -> [UInt8] {
        frame(.ping, payload, mask: mask)
    }

    /// 5.5.3: a Pong echoes the Ping's payload.
    public static func pong(_ payload: [UInt8], mask: [UInt8]? = nil) -> [UInt8] {
        frame(.pong, payload, mask: mask)
    }
}
