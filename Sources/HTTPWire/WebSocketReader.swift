/// Incremental WebSocket frame reader (RFC 6455 section 5): feed it bytes, call `next()`
/// until nil. Messages come out whole: fragments are reassembled, control frames that arrive
/// between fragments (5.4) come out as they arrive.
///
/// Memory: at most one frame's header and payload (`maxFrameBytes`) plus one message's
/// reassembled fragments (`maxMessageBytes`), plus what the caller fed before calling
/// `next()` again. Oversized frames are refused from their header, before their payload.
public struct WebSocketReader {
    public enum Role: Sendable {
        /// Reads client frames, which MUST be masked (5.1).
        case server
        /// Reads server frames, which MUST NOT be masked (5.1).
        case client
    }

    private enum State {
        /// Between messages.
        case idle
        /// Inside a fragmented data message; `bytes` holds the fragments so far, unmasked.
        case fragmented(isText: Bool, bytes: [UInt8])
        /// A Close frame was returned; later bytes are ignored, since the peer must send
        /// nothing after it (5.5.1).
        case closed
        case failed(WebSocketError)
    }

    /// As in HTTPRequestParser: drop consumed bytes once that many and half the buffer.
    private static let compactThresholdBytes = 4096
    /// Storage kept after the buffer empties, so an idle connection does not keep a 1 MiB
    /// buffer from one large message.
    private static let retainedCapacityBytes = 16 * 1024

    public let limits: WebSocketLimits
    public let role: Role
    private var state: State = .idle
    private var buffer: [UInt8] = []
    private var readIndex = 0

    public init(limits: WebSocketLimits = .default, role: Role) {
        self.limits = limits
        self.role = role
    }

    public mutating func feed(_ bytes: UnsafeRawBufferPointer) {
        switch state {
        case .closed, .failed: return
        case .idle, .fragmented: break
        }
        compact()
        buffer.append(contentsOf: bytes)
    }

    public mutating func feed(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { feed($0) }
    }

    /// Bytes held that are not yet part of a returned message's frames.
    public var bufferedByteCount: Int { buffer.count - readIndex }

    /// The next complete message, nil if more bytes are needed (or after a Close). Throws
    /// when the peer broke the protocol; later calls throw the same error.
    public mutating func next() throws(WebSocketError) -> WebSocketMessage? {
        while true {
            switch state {
            case .closed: return nil
            case .failed(let error): throw error
            case .idle, .fragmented: break
            }
            let start = readIndex
            let parsed = buffer.withUnsafeBytes { all in
                Result { () throws(WebSocketError) in
                    try WebSocketFrameHeader.parse(UnsafeRawBufferPointer(rebasing: all[start...]))
                }
            }
            do throws(WebSocketError) {
                guard case .header(let header) = try parsed.get() else { return nil }
                try check(header)
                let total = header.headerBytes + Int(header.payloadLength)   // fits: checked
                guard buffer.count - readIndex >= total else { return nil }
                let payload = takePayload(header)
                readIndex += total
                if let message = try handle(header, payload) { return message }
            } catch {
                state = .failed(error)
                buffer = []
                readIndex = 0
                throw error
            }
        }
    }

    // MARK: - Private

    /// The rules that need the reader's state: masking by role, fragment sequencing, sizes.
    private func check(_ header: WebSocketFrameHeader) throws(WebSocketError) {
        switch role {
        case .server where header.maskKey == nil: throw .protocolError("unmasked client frame")
        case .client where header.maskKey != nil: throw .protocolError("masked server frame")
        default: break
        }
        var messageBytesSoFar = 0
        switch (header.opcode, state) {
        case (.continuation, .fragmented(_, let bytes)): messageBytesSoFar = bytes.count
        case (.continuation, _): throw .protocolError("continuation frame without a message to continue")
        case (.text, .fragmented), (.binary, .fragmented):
            throw .protocolError("new data frame inside a fragmented message")
        default: break
        }
        guard header.payloadLength <= UInt64(limits.maxFrameBytes) else {
            throw .tooBig("frame of \(header.payloadLength) bytes exceeds \(limits.maxFrameBytes)")
        }
        if !header.opcode.isControl,
           messageBytesSoFar + Int(header.payloadLength) > limits.maxMessageBytes {
            throw .tooBig("message exceeds \(limits.maxMessageBytes) bytes")
        }
    }

    /// Copies the frame's payload out of the buffer and unmasks it in one pass.
    private func takePayload(_ header: WebSocketFrameHeader) -> [UInt8] {
        let start = readIndex + header.headerBytes
        var payload = Array(buffer[start..<(start + Int(header.payloadLength))])
        if let key = header.maskKey {
            payload.withUnsafeMutableBytes { WebSocketMasking.apply(key: key, to: $0) }
        }
        return payload
    }

    private mutating func handle(_ header: WebSocketFrameHeader, _ payload: [UInt8]) throws(WebSocketError) -> WebSocketMessage? {
        switch header.opcode {
        case .ping: return .ping(payload)
        case .pong: return .pong(payload)
        case .close:
            let message = try Self.closeMessage(payload)
            state = .closed
            buffer = []
            readIndex = 0
            return message
        case .text, .binary:
            let isText = header.opcode == .text
            if header.fin { return try Self.dataMessage(isText: isText, payload) }
            state = .fragmented(isText: isText, bytes: payload)
            return nil
        case .continuation:
            guard case .fragmented(let isText, var bytes) = state else { return nil }  // check() ensured it
            state = .idle   // release the enum's reference so the append does not copy
            bytes.append(contentsOf: payload)
            if header.fin { return try Self.dataMessage(isText: isText, bytes) }
            state = .fragmented(isText: isText, bytes: bytes)
            return nil
        }
    }

    /// 8.1: a text message must be valid UTF-8 as a whole (a fragment may split a character).
    private static func dataMessage(isText: Bool, _ bytes: [UInt8]) throws(WebSocketError) -> WebSocketMessage {
        guard isText else { return .binary(bytes) }
        guard let text = UTF8Validation.string(bytes) else { throw .invalidUTF8("text message is not UTF-8") }
        return .text(text)
    }

    /// 5.5.1: an empty body, or a 2-byte code and a UTF-8 reason.
    private static func closeMessage(_ payload: [UInt8]) throws(WebSocketError) -> WebSocketMessage {
        if payload.isEmpty { return .close(code: nil, reason: "") }
        guard payload.count >= 2 else { throw .protocolError("close frame with a 1-byte body") }
        let code = UInt16(payload[0]) << 8 | UInt16(payload[1])
        guard WebSocketCloseCode.isAllowedOnWire(code) else {
            throw .protocolError("close code \(code) may not be sent")
        }
        guard let reason = UTF8Validation.string(Array(payload[2...])) else {
            throw .invalidUTF8("close reason is not UTF-8")
        }
        return .close(code: code, reason: reason)
    }

    private mutating func compact() {
        if readIndex > 0, readIndex == buffer.count {
            buffer.removeAll(keepingCapacity: buffer.capacity <= Self.retainedCapacityBytes)
            readIndex = 0
        } else if readIndex >= Self.compactThresholdBytes, readIndex * 2 >= buffer.count {
            buffer.removeSubrange(0..<readIndex)
            readIndex = 0
        }
    }
}
