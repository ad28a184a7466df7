import Hashing

/// The opening handshake (RFC 6455 section 4), both sides.
public enum WebSocketHandshake {
    /// 1.3: the GUID appended to the client's key before hashing.
    static let guid = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
    /// A server's handshake response head larger than this is refused by the client side.
    public static let maxServerResponseBytes = 16 * 1024

    /// base64(SHA-1(key + GUID)) (4.2.2 step 5.4).
    public static func acceptKey(forClientKey key: String) -> String {
        Base64.encode(SHA1.hash(Array((key + guid).utf8)))
    }

    // MARK: - Server side

    /// Checks an upgrade request (4.2.1) and returns the Sec-WebSocket-Accept value.
    /// Failures: 400 for a request that is not a valid handshake, 426 for a
    /// Sec-WebSocket-Version other than 13 (4.2.2: answer with the versions we support; see
    /// `rejectionHeaders`).
    public static func validate(_ request: HTTPRequest) -> Result<String, HTTPParseError> {
        guard request.method == "GET" else { return .failure(.badRequest("WebSocket upgrade must be GET")) }
        guard request.version == "HTTP/1.1" else {
            return .failure(.badRequest("WebSocket upgrade needs HTTP/1.1"))
        }
        guard request.headers.containsToken("Upgrade", "websocket") else {
            return .failure(.badRequest("missing Upgrade: websocket"))
        }
        guard request.headers.containsToken("Connection", "upgrade") else {
            return .failure(.badRequest("missing Connection: Upgrade"))
        }
        let versions = request.headers.values("Sec-WebSocket-Version")
        guard !versions.isEmpty else { return .failure(.badRequest("missing Sec-WebSocket-Version")) }
        guard versions == ["13"] else {
            return .failure(HTTPParseError(status: 426, message: "unsupported Sec-WebSocket-Version"))
        }
        let keys = request.headers.values("Sec-WebSocket-Key")
        guard keys.count == 1, let decoded = Base64.decode(keys[0]), decoded.count == 16 else {
            return .failure(.badRequest("Sec-WebSocket-Key must be base64 of 16 bytes"))
        }
        return .success(acceptKey(forClientKey: keys[0]))
    }

    /// Headers to add to the error response for a failed `validate`: a 426 must list the
    /// versions we speak (4.2.2), and an Upgrade-Required response names the protocol.
    public static func rejectionHeaders(for error: HTTPParseError) -> HTTPHeaders {
        guard error.status == 426 else { return HTTPHeaders() }
        return HTTPHeaders([("Sec-WebSocket-Version", "13"), ("Upgrade", "websocket")])
    }

    /// The 101 Switching Protocols response (4.2.2 step 5). No extensions, no subprotocol.
    public static func response(acceptKey: String) -> [UInt8] {
        Array(("HTTP/1.1 101 Switching Protocols\r\n"
            + "Upgrade: websocket\r\n"
            + "Connection: Upgrade\r\n"
            + "Sec-WebSocket-Accept: \(acceptKey)\r\n\r\n").utf8)
    }

    // MARK: - Client side (our CLI and load generator)

    /// The Sec-WebSocket-Key for 16 random bytes the caller draws (4.1: a fresh nonce per
    /// connection). nil unless exactly 16 bytes.
    public static func clientKey(randomBytes: [UInt8]) -> String? {
        randomBytes.count == 16 ? Base64.encode(randomBytes) : nil
    }

    /// The client's opening handshake (4.1). CR, LF and spaces are stripped from `host` and
    /// `target` so they cannot inject lines.
    public static func clientRequest(host: String, target: String, key: String) -> [UInt8] {
        func clean(_ s: String) -> String { String(s.unicodeScalars.filter { $0.value > 0x20 && $0.value != 0x7F }) }
        return Array(("GET \(clean(target)) HTTP/1.1\r\n"
            + "Host: \(clean(host))\r\n"
            + "Upgrade: websocket\r\n"
            + "Connection: Upgrade\r\n"
            + "Sec-WebSocket-Key: \(clean(key))\r\n"
            + "Sec-WebSocket-Version: 13\r\n\r\n").utf8)
    }

    /// What the client makes of the bytes received so far after sending its handshake.
    public enum ServerResponse: Sendable, Equatable {
        case needMoreBytes
        /// Accepted. The first `headBytes` bytes were the HTTP head; anything after them is
        /// already WebSocket frames.
        case accepted(headBytes: Int)
        /// Refused: `status` is the server's status code if the head was readable.
        case rejected(status: Int?, reason: String)
    }

    /// Checks the server's response head (4.1, "the client MUST validate"): status 101,
    /// Upgrade: websocket, Connection: upgrade, the right Sec-WebSocket-Accept, and no
    /// extension or subprotocol, since we asked for none.
    public static func parseServerResponse(_ bytes: [UInt8], key: String) -> ServerResponse {
        var scanner = HTTPHeadScanner(at: 0)
        switch scanner.scan(bytes) {
        case .malformed(let why): return .rejected(status: nil, reason: why)
        case .needMoreBytes:
            return bytes.count > maxServerResponseBytes
                ? .rejected(status: nil, reason: "response head too large") : .needMoreBytes
        case .complete(let start, let end):
            guard end - start <= maxServerResponseBytes else {
                return .rejected(status: nil, reason: "response head too large")
            }
            var lines = bytes[start..<(end - 2)].crlfLines()
            let statusLine = lines.isEmpty ? [] : lines.removeFirst()
            let parts = statusLine.split(separator: UInt8(ascii: " "), maxSplits: 2, omittingEmptySubsequences: false)
            guard parts.count >= 2, parts[0].elementsEqual("HTTP/1.1".utf8),
                  let status = Int(String(decoding: parts[1], as: UTF8.self))
            else { return .rejected(status: nil, reason: "malformed status line") }
            guard status == 101 else { return .rejected(status: status, reason: "server did not switch protocols") }
            guard let headers = try? HTTPFieldLines.parse(lines, maxCount: HTTPLimits.default.maxHeaderCount) else {
                return .rejected(status: status, reason: "malformed header fields")
            }
            guard headers.containsToken("Upgrade", "websocket"), headers.containsToken("Connection", "upgrade") else {
                return .rejected(status: status, reason: "missing Upgrade/Connection headers")
            }
            guard headers.values("Sec-WebSocket-Accept") == [acceptKey(forClientKey: key)] else {
                return .rejected(status: status, reason: "wrong Sec-WebSocket-Accept")
            }
            guard headers["Sec-WebSocket-Extensions"] == nil, headers["Sec-WebSocket-Protocol"] == nil else {
                return .rejected(status: status, reason: "unrequested extension or subprotocol")
            }
            return .accepted(headBytes: end)
        }
    }

    /// True when `head` starts with a complete, valid 101 response for `key`.
    public static func checkServerResponse(_ head: [UInt8], key: String) -> Bool {
        if case .accepted = parseServerResponse(head, key: key) { return true }
        return false
    }
}
