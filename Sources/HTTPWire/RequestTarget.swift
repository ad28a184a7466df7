/// The request-target of RFC 9112 section 3.2, split into a decoded path and query.
///
/// Accepted forms: origin-form ("/a/b?q"), absolute-form ("http://host/a?q", which a server
/// MUST accept, RFC 9112 3.2.2) and asterisk-form ("*", OPTIONS only). Authority-form is for
/// CONNECT, which we do not implement. Any visible ASCII byte except '#' is allowed raw
/// (RFC 3986 is stricter, but browsers send unescaped '|' and '{'); a fragment, whitespace,
/// control bytes and non-ASCII are rejected.
struct RequestTarget: Equatable {
    var path: String
    var segments: [String]
    var query: [String: String]

    static func parse(_ raw: [UInt8], method: String) throws(HTTPParseError) -> RequestTarget {
        guard !raw.isEmpty else { throw .badRequest("empty request-target") }
        for c in raw where c <= 0x20 || c >= 0x7F || c == UInt8(ascii: "#") {
            throw .badRequest("invalid byte 0x\(String(c, radix: 16)) in request-target")
        }
        if raw == [UInt8(ascii: "*")] {
            guard method == "OPTIONS" else { throw .badRequest("'*' target is for OPTIONS only") }
            return RequestTarget(path: "*", segments: [], query: [:])
        }
        var rest = raw[...]
        if raw.first != UInt8(ascii: "/") {
            rest = try stripSchemeAndAuthority(raw)
        }
        let questionMark = rest.firstIndex(of: UInt8(ascii: "?"))
        let rawPath = rest[..<(questionMark ?? rest.endIndex)]
        let rawQuery = questionMark.map { rest[($0 + 1)...] } ?? []

        guard let path = PercentDecoding.decode(rawPath, plusAsSpace: false) else {
            throw .badRequest("malformed percent-encoding or UTF-8 in path")
        }
        // Ids never contain control characters; a decoded one is an attack or a bug.
        guard !path.utf8.contains(where: { $0 < 0x20 || $0 == 0x7F }) else {
            throw .badRequest("control character in path")
        }
        var segments: [String] = []
        for rawSegment in rawPath.split(separator: UInt8(ascii: "/"), omittingEmptySubsequences: true) {
            guard let segment = PercentDecoding.decode(rawSegment, plusAsSpace: false) else {
                throw .badRequest("malformed path segment")
            }
            segments.append(segment)
        }
        var query: [String: String] = [:]
        for pair in rawQuery.split(separator: UInt8(ascii: "&"), omittingEmptySubsequences: true) {
            let equals = pair.firstIndex(of: UInt8(ascii: "="))
            let rawKey = pair[..<(equals ?? pair.endIndex)]
            let rawValue = equals.map { pair[($0 + 1)...] } ?? []
            guard let key = PercentDecoding.decode(rawKey, plusAsSpace: true),
                  let value = PercentDecoding.decode(rawValue, plusAsSpace: true)
            else { throw .badRequest("malformed percent-encoding or UTF-8 in query") }
            // No parameter of ours takes two values: two of one name could be read two ways.
            guard query.updateValue(value, forKey: key) == nil else {
                throw .badRequest("query parameter \(key) given twice")
            }
        }
        return RequestTarget(path: path, segments: segments, query: query)
    }

    /// "http://host:port/p?q" -> "/p?q"; "http://host?q" -> "/?q" (RFC 9112 3.2.2, 3.3).
    private static func stripSchemeAndAuthority(_ raw: [UInt8]) throws(HTTPParseError) -> ArraySlice<UInt8> {
        let text = String(decoding: raw, as: UTF8.self)
        let lower = text.lowercased()
        let schemeLength: Int
        if lower.hasPrefix("http://") { schemeLength = 7 }
        else if lower.hasPrefix("https://") { schemeLength = 8 }
        else { throw .badRequest("request-target must start with '/'") }
        let afterScheme = raw[schemeLength...]
        let authorityEnd = afterScheme.firstIndex { $0 == UInt8(ascii: "/") || $0 == UInt8(ascii: "?") } ?? raw.endIndex
        guard authorityEnd > schemeLength else { throw .badRequest("absolute-form target without a host") }
        let rest = raw[authorityEnd...]
        if rest.first == UInt8(ascii: "/") { return rest }
        return ArraySlice([UInt8(ascii: "/")] + rest)
    }
}
