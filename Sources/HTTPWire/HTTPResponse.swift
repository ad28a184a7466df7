/// A response to serialize. The server adds nothing else: a `Date` header (RFC 9110 6.6.1)
/// needs a clock, so the caller adds it if it wants one.
public struct HTTPResponse: Sendable {
    public var status: Int
    public var headers: HTTPHeaders
    public var body: [UInt8]

    public init(status: Int, headers: HTTPHeaders = HTTPHeaders(), body: [UInt8] = []) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    /// A JSON response: `Content-Type: application/json` and `body` as UTF-8.
    public static func json(_ status: Int, _ body: String) -> HTTPResponse {
        HTTPResponse(status: status, headers: HTTPHeaders([("Content-Type", "application/json")]),
                     body: Array(body.utf8))
    }

    /// The interim response a client waiting on `Expect: 100-continue` needs (RFC 9110 10.1.1).
    public static let continueHead: [UInt8] = Array("HTTP/1.1 100 Continue\r\n\r\n".utf8)

    /// Status line, headers, Content-Length, Connection: keep-alive/close, then the body.
    ///
    /// `Content-Length` and `Connection` are always computed here; copies of them in
    /// `headers` are ignored. Headers whose name is not a token are skipped, and CR, LF and
    /// other control bytes in values become spaces, so no input echoed into a header can
    /// split the response. For a HEAD request pass `includeBody: false`: the length is still
    /// sent (RFC 9110 9.3.2). 1xx and 204 responses carry neither length nor body (RFC 9110
    /// 8.6, 6.4.1).
    public func serialize(keepAlive: Bool, includeBody: Bool = true) -> [UInt8] {
        let bodyAllowed = status >= 200 && status != 204
        var out: [UInt8] = []
        out.reserveCapacity(128 + headers.count * 32 + (includeBody && bodyAllowed ? body.count : 0))
        let code = (100...999).contains(status) ? status : 500
        out.append(contentsOf: "HTTP/1.1 \(code) \(Self.reasonPhrase(code))\r\n".utf8)
        for (name, value) in headers {
            guard HTTPToken.isToken(name.utf8),
                  !asciiCaseInsensitiveEquals(name, "Content-Length"),
                  !asciiCaseInsensitiveEquals(name, "Connection")
            else { continue }
            out.append(contentsOf: name.utf8)
            out.append(contentsOf: ": ".utf8)
            for c in value.utf8 {
                out.append((c < 0x20 && c != UInt8(ascii: "\t")) || c == 0x7F ? UInt8(ascii: " ") : c)
            }
            out.append(contentsOf: "\r\n".utf8)
        }
        if bodyAllowed {
            out.append(contentsOf: "Content-Length: \(body.count)\r\n".utf8)
        }
        out.append(contentsOf: (keepAlive ? "Connection: keep-alive\r\n" : "Connection: close\r\n").utf8)
        out.append(contentsOf: "\r\n".utf8)
        if includeBody && bodyAllowed { out.append(contentsOf: body) }
        return out
    }

    /// The RFC 9110 section 15 reason phrase; "Unknown" for unregistered codes (the phrase is
    /// informative only, RFC 9112 4).
    public static func reasonPhrase(_ status: Int) -> String {
        switch status {
        case 100: "Continue"
        case 101: "Switching Protocols"
        case 200: "OK"
        case 201: "Created"
        case 202: "Accepted"
        case 204: "No Content"
        case 206: "Partial Content"
        case 301: "Moved Permanently"
        case 302: "Found"
        case 303: "See Other"
        case 304: "Not Modified"
        case 307: "Temporary Redirect"
        case 308: "Permanent Redirect"
        case 400: "Bad Request"
        case 401: "Unauthorized"
        case 402: "Payment Required"
        case 403: "Forbidden"
        case 404: "Not Found"
        case 405: "Method Not Allowed"
        case 406: "Not Acceptable"
        case 408: "Request Timeout"
        case 409: "Conflict"
        case 410: "Gone"
        case 411: "Length Required"
        case 412: "Precondition Failed"
        case 413: "Content Too Large"
        case 414: "URI Too Long"
        case 415: "Unsupported Media Type"
        case 416: "Range Not Satisfiable"
        case 417: "Expectation Failed"
        case 422: "Unprocessable Content"
        case 426: "Upgrade Required"
        case 428: "Precondition Required"
        case 429: "Too Many Requests"
        case 431: "Request Header Fields Too Large"
        case 500: "Internal Server Error"
        case 501: "Not Implemented"
        case 502: "Bad Gateway"
        case 503: "Service Unavailable"
        case 504: "Gateway Timeout"
        case 505: "HTTP Version Not Supported"
        default: "Unknown"
        }
    }
}
