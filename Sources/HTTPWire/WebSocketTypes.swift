/// Frame opcodes (RFC 6455 5.2, 11.8). The others are reserved and fail the connection.
public enum WebSocketOpcode: UInt8, Sendable {
    case continuation = 0, text = 1, binary = 2, close = 8, ping = 9, pong = 10

    /// Control frames (RFC 6455 5.5) have the high opcode bit set.
    public var isControl: Bool { rawValue & 0x8 != 0 }
}

/// One complete message as the reader hands it out.
public enum WebSocketMessage: Sendable, Equatable {
    /// Reassembled from its fragments and validated as UTF-8.
    case text(String)
    case binary([UInt8])
    case ping([UInt8])
    case pong([UInt8])
    /// `code` is nil when the Close frame had no body (RFC 6455 5.5.1); the peer then gets
    /// 1000 back, since 1005 must never be sent (7.4.1).
    case close(code: UInt16?, reason: String)
}

/// Why the reader failed the connection (RFC 6455 7.1.7). Send a Close frame with
/// `closeCode`, then close the TCP connection; the reader keeps throwing this error.
public struct WebSocketError: Error, Sendable, Equatable {
    /// 1002 protocol error, 1007 invalid UTF-8, 1009 message too big (RFC 6455 7.4.1).
    public let closeCode: UInt16
    public let message: String

    public init(closeCode: UInt16, message: String) {
        self.closeCode = closeCode
        self.message = message
    }

    static func protocolError(_ message: String) -> WebSocketError { .init(closeCode: 1002, message: message) }
    static func invalidUTF8(_ message: String) -> WebSocketError { .init(closeCode: 1007, message: message) }
    static func tooBig(_ message: String) -> WebSocketError { .init(closeCode: 1009, message: message) }
}

/// Bounds on what one peer can make the reader buffer.
public struct WebSocketLimits: Sendable {
    /// Payload bytes of one frame. 1 MiB: a chat message body is at most 64 KiB as JSON
    /// (PROTOCOL.md), so this leaves room for escaping and batched events.
    public var maxFrameBytes: Int
    /// Payload bytes of one message after reassembling its fragments. Same reasoning.
    public var maxMessageBytes: Int

    public init(maxFrameBytes: Int = 1024 * 1024, maxMessageBytes: Int = 1024 * 1024) {
        self.maxFrameBytes = maxFrameBytes
        self.maxMessageBytes = maxMessageBytes
    }

    public static let `default` = WebSocketLimits()
}
