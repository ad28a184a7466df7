import HTTPWire
import Net

/// One client WebSocket (RFC 6455) over a `TCPConnection`: the opening handshake, masked
/// text frames out, whole messages in, Pong for Ping, Close echoed. Loop thread only.
final class WebSocketClient {
    private enum State {
        case idle
        case connecting
        /// Handshake sent; `received` holds the response bytes so far.
        case handshaking(TCPConnection, key: String, received: [UInt8])
        case open(TCPConnection)
        case closed
    }

    let loop: EventLoop
    let endpoint: Endpoint
    let target: String
    /// The 101 arrived; frames may be sent.
    var onOpen: (() -> Void)?
    /// One text message (one JSON event).
    var onText: ((String) -> Void)?
    /// Called once: the connection failed or closed, with why.
    var onClose: ((String) -> Void)?

    private var state: State = .idle
    private var reader = WebSocketReader(role: .client)
    private var maskState: UInt64
    private(set) var framesSent = 0
    private(set) var framesReceived = 0

    init(loop: EventLoop, endpoint: Endpoint, target: String, seed: UInt64) {
        self.loop = loop
        self.endpoint = endpoint
        self.target = target
        maskState = seed
    }

    var isOpen: Bool {
        if case .open = state { return true }
        return false
    }

    func connect() {
        guard case .idle = state else { return }
        state = .connecting
        loop.connectTCP(host: endpoint.host, port: endpoint.port) { [self] result in
            switch result {
            case .failure(let error):
                finish("connect to \(endpoint): \(error)")
            case .success(let connection):
                var generator = SystemRandomNumberGenerator()
                let nonce = (0..<16).map { _ in UInt8.random(in: 0...255, using: &generator) }
                let key = WebSocketHandshake.clientKey(randomBytes: nonce) ?? ""
                state = .handshaking(connection, key: key, received: [])
                connection.onRead = { [weak self] bytes in self?.received(bytes) }
                connection.onClose = { [weak self] error in
                    self?.finish("\(self?.endpoint.description ?? "") closed: \(error.map { "\($0)" } ?? "EOF")")
                }
                connection.write(WebSocketHandshake.clientRequest(host: endpoint.description, target: target, key: key))
            }
        }
    }

    func send(_ text: String) {
        guard case .open(let connection) = state else { return }
        var frame: [UInt8] = []
        frame.reserveCapacity(text.utf8.count + 14)
        WebSocketWriter.appendText(text, mask: nextMask(), to: &frame)
        framesSent += 1
        connection.write(frame)
    }

    /// Sends Close 1000 and closes after the write queue drains. `onClose` is not called.
    func close() {
        onClose = nil
        switch state {
        case .open(let connection):
            connection.write(WebSocketWriter.close(code: 1000, mask: nextMask()))
            connection.close()
        case .handshaking(let connection, _, _):
            connection.close()
        case .idle, .connecting, .closed:
            break
        }
        finish("closed by the bench")
    }

    // MARK: Input

    private func received(_ bytes: UnsafeRawBufferPointer) {
        switch state {
        case .handshaking(let connection, let key, var buffer):
            buffer.append(contentsOf: bytes)
            switch WebSocketHandshake.parseServerResponse(buffer, key: key) {
            case .needMoreBytes:
                state = .handshaking(connection, key: key, received: buffer)
            case .rejected(let status, let reason):
                connection.abort()
                finish("handshake refused (\(status.map(String.init) ?? "no status")): \(reason)")
            case .accepted(let headBytes):
                state = .open(connection)
                onOpen?()
                if headBytes < buffer.count {
                    reader.feed(Array(buffer[headBytes...]))
                    drainReader(connection)
                }
            }
        case .open(let connection):
            reader.feed(bytes)
            drainReader(connection)
        case .idle, .connecting, .closed:
            return
        }
    }

    private func drainReader(_ connection: TCPConnection) {
        do {
            while case .open = state, let message = try reader.next() {
                framesReceived += 1
                switch message {
                case .text(let text): onText?(text)
                case .binary: break
                case .ping(let payload): connection.write(WebSocketWriter.pong(payload, mask: nextMask()))
                case .pong: break
                case .close(let code, let reason):
                    // 5.5.1: answer the Close, then the server closes TCP.
                    connection.write(WebSocketWriter.close(code: 1000, mask: nextMask()))
                    connection.close()
                    finish("server closed the WebSocket (\(code.map(String.init) ?? "no code")) \(reason)")
                }
            }
        } catch {
            connection.write(WebSocketWriter.close(code: error.closeCode, mask: nextMask()))
            connection.close()
            finish("bad frame from the server: \(error.message)")
        }
    }

    private func finish(_ why: String) {
        if case .closed = state { return }
        state = .closed
        let callback = onClose
        onOpen = nil
        onText = nil
        onClose = nil
        callback?(why)
    }

    /// RFC 6455 10.3 wants masks unpredictable to hostile page scripts; a load generator has
    /// none, so a seeded SplitMix64 (from the system generator) saves a getrandom per frame.
    private func nextMask() -> [UInt8] {
        maskState &+= 0x9E37_79B9_7F4A_7C15
        var z = maskState
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        z ^= z >> 31
        return [UInt8(truncatingIfNeeded: z), UInt8(truncatingIfNeeded: z >> 8),
                UInt8(truncatingIfNeeded: z >> 16), UInt8(truncatingIfNeeded: z >> 24)]
    }
}
