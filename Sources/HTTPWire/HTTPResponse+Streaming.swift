extension HTTPResponse {
    /// The status line and headers of a response whose `contentLength` body bytes the caller
    /// writes itself, in pieces (a file streamed from disk). Same sanitising as `serialize`.
    public func serializeHead(contentLength: Int, keepAlive: Bool) -> [UInt8] {
        var copy = self
        copy.body = []
        var head = copy.serialize(keepAlive: keepAlive, includeBody: false)
        // `serialize` wrote "Content-Length: 0" for the empty body: put the real length in.
        let zero = Array("Content-Length: 0\r\n".utf8)
        if let at = head.firstRange(of: zero) {
            head.replaceSubrange(at, with: Array("Content-Length: \(contentLength)\r\n".utf8))
        }
        return head
    }
}
