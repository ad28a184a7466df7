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

    public init(maxHeaderBytes: Int = 16 * 1024, maxHeaderCount: Int = 100, maxBodyBytes: Int = 1024 * 1024) {
        self.maxHeaderBytes = maxHeaderBytes
        self.maxHeaderCount = maxHeaderCount
        self.maxBodyBytes = maxBodyBytes
    }

    public static let `default` = HTTPLimits()
}
