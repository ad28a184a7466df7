/// Bounds on one request, so that one client cannot make the server buffer without limit.
/// The parser holds at most `maxHeaderBytes + maxBodyBytes` of one request (plus whatever
/// the caller fed beyond it before calling `next()` again).
public struct HTTPLimits: Sendable {
    /// Request line plus header fields plus the blank line, in bytes. 16 KiB fits any real
    /// browser request with cookies and a long bearer token; nginx's default is 8 KiB.
    public var maxHeaderBytes: Int
    /// Header field lines. Browsers send about 20; 100 matches common servers.
    public var maxHeaderCount: Int
    /// Content-Length bodies, in bytes. 1 MiB covers a JSON message (bodies are at most
    /// 64 KiB, PROTOCOL.md); the node raises it for asset uploads.
    public var maxBodyBytes: Int

    /// "METHOD /path" of the routes whose bodies are streamed to the caller in pieces instead
    /// of buffered (asset uploads), and their own bound (a longer `Content-Length` is a 413
    /// before any of the body is read).
    public var streamedBodyPaths: Set<String> = []
    public var maxStreamedBodyBytes = 0

    public init(maxHeaderBytes: Int = 16 * 1024, maxHeaderCount: Int = 100, maxBodyBytes: Int = 1024 * 1024) {
        self.maxHeaderBytes = maxHeaderBytes
        self.maxHeaderCount = maxHeaderCount
        self.maxBodyBytes = maxBodyBytes
    }

    public static let `default` = HTTPLimits()
}
