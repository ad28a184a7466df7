/// One HTTP response as the bench needs it: the status and the body.
struct HTTPReply: Sendable {
    let status: Int
    let body: [UInt8]
}

/// Why a response could not be read; the connection is unusable afterwards.
struct HTTPReplyError: Error, Sendable, CustomStringConvertible {
    let description: String
}

/// A minimal incremental HTTP/1.1 response reader for keep-alive request/response: the status
/// line, `Content-Length` and the body. The server always sends `Content-Length`
/// (PROTOCOL-NOTES "HTTP"), so chunked bodies and read-until-close are refused.
///
/// Pure: feed bytes, call `next()` until nil.
struct HTTPReplyParser {
    /// A response head larger than this is refused (the server's own head limit is 16 KiB).
    static let maxHeadBytes = 16 * 1024
    /// A body larger than this is refused: a full history page of 100 messages of 64 KiB
    /// each, escaped, stays under it.
    static let maxBodyBytes = 32 * 1024 * 1024

    private var buffer: [UInt8] = []
    private var start = 0

    mutating func feed(_ bytes: UnsafeRawBufferPointer) {
        if start > 0, start == buffer.count {
            buffer.removeAll(keepingCapacity: true)
            start = 0
        } else if start > 4096, start * 2 > buffer.count {
            buffer.removeSubrange(0..<start)
            start = 0
        }
        buffer.append(contentsOf: bytes)
    }

    mutating func next() throws(HTTPReplyError) -> HTTPReply? {
        guard let headEnd = findHeadEnd() else {
            if buffer.count - start > Self.maxHeadBytes { throw HTTPReplyError(description: "response head over \(Self.maxHeadBytes) bytes") }
            return nil
        }
        let head = String(decoding: buffer[start..<headEnd], as: UTF8.self)
        var lines = head.split(separator: "\r\n", omittingEmptySubsequences: false)
        guard !lines.isEmpty else { throw HTTPReplyError(description: "empty response head") }
        let statusParts = lines.removeFirst().split(separator: " ", maxSplits: 2)
        guard statusParts.count >= 2, statusParts[0].hasPrefix("HTTP/1."), let status = Int(statusParts[1]),
              (100..<600).contains(status) else {
            throw HTTPReplyError(description: "malformed status line")
        }
        var contentLength: Int?
        for line in lines {
            guard let colon = line.firstIndex(of: ":") else { continue }
            let name = line[..<colon].lowercased()
            let value = line[line.index(after: colon)...].trimmingCharacters(in: " \t")
            if name == "content-length" {
                guard let length = Int(value), length >= 0 else { throw HTTPReplyError(description: "bad Content-Length") }
                contentLength = length
            } else if name == "transfer-encoding" {
                throw HTTPReplyError(description: "Transfer-Encoding is not supported")
            }
        }
        // RFC 9112 6.3: 1xx, 204 and 304 have no body.
        let length = (status < 200 || status == 204 || status == 304) ? 0 : contentLength
        guard let length else { throw HTTPReplyError(description: "response without Content-Length") }
        guard length <= Self.maxBodyBytes else { throw HTTPReplyError(description: "body of \(length) bytes is too large") }
        let bodyStart = headEnd + 4
        guard buffer.count - bodyStart >= length else { return nil }
        let body = Array(buffer[bodyStart..<(bodyStart + length)])
        start = bodyStart + length
        return HTTPReply(status: status, body: body)
    }

    /// The index of the "\r\n\r\n" that ends the head, if it has arrived.
    private func findHeadEnd() -> Int? {
        var index = start
        while index + 3 < buffer.count {
            if buffer[index] == 13, buffer[index + 1] == 10, buffer[index + 2] == 13, buffer[index + 3] == 10 { return index }
            index += 1
        }
        return nil
    }
}

extension StringProtocol {
    fileprivate func trimmingCharacters(in set: String) -> String {
        var slice = Substring(self)
        while let first = slice.first, set.contains(first) { slice.removeFirst() }
        while let last = slice.last, set.contains(last) { slice.removeLast() }
        return String(slice)
    }
}
