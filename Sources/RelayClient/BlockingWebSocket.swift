import Glibc
import HTTPWire

/// A blocking client WebSocket (RFC 6455) for command-line tools: the opening handshake, masked
/// text frames out, whole messages in, pings answered. One thread uses it at a time.
public final class BlockingWebSocket {
    public enum Event: Equatable {
        case text(String)
        /// The server closed the WebSocket (code and reason), or the connection ended.
        case closed(UInt16?, String)
    }

    private let socket: BlockingSocket
    private var reader = WebSocketReader(role: .client)
    private var closed = false
    private var pongs: [[UInt8]] = []

    /// Opens `target` (e.g. `/v1/ws?token=…`); the handshake must finish within `timeoutMs`.
    /// Later reads wait as long as their own `timeoutMs` says.
    public init(host: String, port: Int, target: String, timeoutMs: Int) throws(BlockingSocket.Failure) {
        socket = try BlockingSocket(host: host, port: port, deadline: BlockingSocket.nowMs() + Int64(timeoutMs))
        let nonce = (0..<16).map { _ in UInt8.random(in: 0...255) }
        guard let key = WebSocketHandshake.clientKey(randomBytes: nonce) else { throw .malformed("no handshake key") }
        try socket.send(WebSocketHandshake.clientRequest(host: "\(host):\(port)", target: target, key: key))
        var buffer: [UInt8] = []
        while true {
            guard let chunk = try socket.receive() else { throw .timedOut }
            if chunk.isEmpty { throw .malformed("the server closed the connection during the handshake") }
            buffer += chunk
            switch WebSocketHandshake.parseServerResponse(buffer, key: key) {
            case .needMoreBytes: continue
            case .accepted(let headBytes):
                reader.feed(Array(buffer[headBytes...]))
                socket.deadline = .max
                return
            case .rejected(let status, let reason):
                throw .malformed(status.map { "HTTP \($0): \(reason)" } ?? reason)
            }
        }
    }

    public func send(_ text: String) throws(BlockingSocket.Failure) {
        try socket.send(WebSocketWriter.text(text, mask: Self.mask()))
    }

    /// The next message, or nil when `timeoutMs` passes first.
    public func receive(timeoutMs: Int) throws(BlockingSocket.Failure) -> Event? {
        let until = BlockingSocket.nowMs() + Int64(timeoutMs)
        while true {
            do throws(WebSocketError) {
                while let message = try reader.next() {
                    switch message {
                    case .text(let text): return .text(text)
                    case .binary: continue
                    case .ping(let payload): pongs.append(payload)
                    case .pong: continue
                    case .close(let code, let reason):
                        closed = true
                        return .closed(code, reason)
                    }
                }
            } catch {
                return .closed(error.closeCode, error.message)
            }
            for payload in pongs { try socket.send(WebSocketWriter.pong(payload, mask: Self.mask())) }
            pongs = []
            guard let chunk = try socket.receive(until: until) else { return nil }
            if chunk.isEmpty { return .closed(nil, "the connection ended") }
            reader.feed(chunk)
        }
    }

    public func close() {
        guard !closed else { return }
        closed = true
        try? socket.send(WebSocketWriter.close(code: 1000, mask: Self.mask()))
    }

    private static func mask() -> [UInt8] {
        (0..<4).map { _ in UInt8.random(in: 0...255) }
    }
}
