/// One parsed request.
public struct HTTPRequest: Sendable {
    /// "GET", "POST", ...: one of `HTTPRequest.allowedMethods`.
    public var method: String
    /// The raw request-target, as sent: "/v1/x?y=1".
    public var target: String
    /// The percent-decoded path: "/v1/x". "*" for `OPTIONS *`.
    public var path: String
    /// The path's segments, each percent-decoded after splitting, so an encoded "%2F" stays
    /// inside its segment. Empty segments ("//", a trailing "/") are dropped: "/" is [].
    public var pathSegments: [String]
    /// The query's pairs, percent-decoded with '+' as space; a repeated key keeps the last
    /// value; a key without '=' maps to "".
    public var query: [String: String]
    /// "HTTP/1.1" or "HTTP/1.0".
    public var version: String
    public var headers: HTTPHeaders
    public var body: [UInt8]
    /// For a route whose body is streamed (`HTTPLimits.streamedBodyPaths`): the body's length,
    /// which the caller takes in pieces with `HTTPRequestParser.takeStreamedBody` (`body` is
    /// then empty). Nil for every other request.
    public var streamedBodyBytes: Int? = nil
    /// Whether the connection stays open after the response (RFC 9112 9.3): HTTP/1.1 unless
    /// `Connection: close`, HTTP/1.0 only with `Connection: keep-alive`.
    public var keepAlive: Bool

    /// The methods this server implements (others get 501, RFC 9110 9.1). No CONNECT or
    /// TRACE: we are not a proxy, and TRACE only helps cross-site tracing attacks.
    public static let allowedMethods: [String] = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]

    /// Builds a request as the parser would, deriving path, segments, query and keep-alive.
    /// For tests and for code that synthesises requests. Throws 400 on a malformed target.
    public init(
        method: String, target: String, version: String = "HTTP/1.1",
        headers: HTTPHeaders = HTTPHeaders(), body: [UInt8] = []
    ) throws(HTTPParseError) {
        let parsed = try RequestTarget.parse(Array(target.utf8), method: method)
        self.method = method
        self.target = target
        self.path = parsed.path
        self.pathSegments = parsed.segments
        self.query = parsed.query
        self.version = version
        self.headers = headers
        self.body = body
        self.keepAlive = HTTPRequest.keepAlive(version: version, headers: headers)
    }

    static func keepAlive(version: String, headers: HTTPHeaders) -> Bool {
        if version == "HTTP/1.0" { return headers.containsToken("Connection", "keep-alive") }
        return !headers.containsToken("Connection", "close")
    }
}
