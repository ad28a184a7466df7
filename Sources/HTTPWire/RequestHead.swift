/// A parsed request line and header section, before the body (RFC 9112 sections 3, 5, 6).
struct RequestHead {
    var method: String
    var target: String
    var requestTarget: RequestTarget
    var version: String
    var headers: HTTPHeaders
    var contentLength: Int
    var expectsContinue: Bool

    /// Fields that carry one value (RFC 9110 5.3: only list-valued fields may repeat). Two
    /// `Authorization` lines could be read two ways by two readers (which one wins?), so a
    /// request with two of any of these is refused.
    static let singleValueFields = ["Authorization", "Content-Type", "Expect", "Range", "If-Range", "Origin",
                                    "Sec-WebSocket-Key", "Sec-WebSocket-Version"]

    /// `head` is the request line through the final CRLF CRLF.
    static func parse(_ head: ArraySlice<UInt8>, limits: HTTPLimits) throws(HTTPParseError) -> RequestHead {
        var lines = head.crlfLines()
        guard !lines.isEmpty else { throw .badRequest("empty request") }
        let requestLine = lines.removeFirst()
        // request-line = method SP request-target SP HTTP-version (RFC 9112 3), single spaces.
        let parts = requestLine.split(separator: UInt8(ascii: " "), maxSplits: 2, omittingEmptySubsequences: false)
        guard parts.count == 3, !parts[2].contains(UInt8(ascii: " ")) else {
            throw .badRequest("malformed request line")
        }
        guard HTTPToken.isToken(parts[0]) else { throw .badRequest("malformed method") }
        let method = String(decoding: parts[0], as: UTF8.self)
        guard HTTPRequest.allowedMethods.contains(method) else {
            throw .notImplemented("method \(method) not implemented")
        }
        let version = try parseVersion(parts[2])
        let rawTarget = Array(parts[1])
        let requestTarget = try RequestTarget.parse(rawTarget, method: method)

        let headers = try HTTPFieldLines.parse(lines, maxCount: limits.maxHeaderCount)
        // RFC 9112 3.2: an HTTP/1.1 request without exactly one Host is a 400 (MUST).
        let hosts = headers.values("Host")
        if version == "HTTP/1.1" && hosts.count != 1 {
            throw .badRequest(hosts.isEmpty ? "missing Host header" : "more than one Host header")
        }
        if hosts.count > 1 { throw .badRequest("more than one Host header") }
        for name in singleValueFields where headers.values(name).count > 1 {
            throw .badRequest("more than one \(name) header")
        }

        // Bodies are framed by Content-Length only. A Transfer-Encoding (chunked) request is
        // refused with 411 so the client resends with a length; this also closes the
        // CL/TE request-smuggling hole (RFC 9112 6.1, 11.2).
        if !headers.values("Transfer-Encoding").isEmpty {
            throw .lengthRequired("Transfer-Encoding is not supported; send Content-Length")
        }
        let contentLength = try parseContentLength(headers.values("Content-Length"), limits: limits)
        let expectsContinue = headers["Expect"].map { asciiCaseInsensitiveEquals($0, "100-continue") } ?? false

        return RequestHead(
            method: method, target: String(decoding: rawTarget, as: UTF8.self),
            requestTarget: requestTarget, version: version, headers: headers,
            contentLength: contentLength, expectsContinue: expectsContinue)
    }

    /// HTTP-version = "HTTP/" DIGIT "." DIGIT (RFC 9112 2.3). Well-formed but other than
    /// 1.0 and 1.1: 505.
    private static func parseVersion(_ raw: ArraySlice<UInt8>) throws(HTTPParseError) -> String {
        let text = String(decoding: raw, as: UTF8.self)
        if text == "HTTP/1.1" || text == "HTTP/1.0" { return text }
        let bytes = Array(raw)
        let isDigit: (UInt8) -> Bool = { $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }
        if bytes.count == 8, text.hasPrefix("HTTP/"), isDigit(bytes[5]), bytes[6] == UInt8(ascii: "."), isDigit(bytes[7]) {
            throw .versionNotSupported("HTTP version \(text) not supported")
        }
        throw .badRequest("malformed HTTP version")
    }

    /// Content-Length = 1*DIGIT (RFC 9110 8.6). Several Content-Length lines, or a list, are
    /// refused even when equal: the RFC allows identical ones, but no honest client sends
    /// them and two parsers may disagree on them.
    private static func parseContentLength(_ values: [String], limits: HTTPLimits) throws(HTTPParseError) -> Int {
        guard let value = values.first else { return 0 }
        guard values.count == 1 else { throw .badRequest("more than one Content-Length") }
        guard !value.isEmpty else { throw .badRequest("empty Content-Length") }
        var length = 0
        for c in value.utf8 {
            guard c >= UInt8(ascii: "0") && c <= UInt8(ascii: "9") else {
                throw .badRequest("invalid Content-Length")
            }
            // Stop before overflow: anything past the limit is refused the same way.
            let (times10, overflow1) = length.multipliedReportingOverflow(by: 10)
            let (next, overflow2) = times10.addingReportingOverflow(Int(c - UInt8(ascii: "0")))
            length = next
            if overflow1 || overflow2 || length > limits.maxBodyBytes {
                throw .bodyTooLarge("body exceeds \(limits.maxBodyBytes) bytes")
            }
        }
        return length
    }
}
