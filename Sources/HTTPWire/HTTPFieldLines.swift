/// Parses the field lines of a head (RFC 9112 section 5, RFC 9110 section 5).
enum HTTPFieldLines {
    /// `lines` are the field lines without their CRLF. Rejects (400) what RFC 9112 says a
    /// server MUST reject: obs-fold (5.2) and whitespace between name and colon (5.1); and
    /// what could be read two ways by two parsers: empty or non-token names, and control
    /// bytes (NUL, bare CR, ...) in values. Over `maxCount` lines: 431.
    static func parse(_ lines: [ArraySlice<UInt8>], maxCount: Int) throws(HTTPParseError) -> HTTPHeaders {
        guard lines.count <= maxCount else {
            throw .headersTooLarge("more than \(maxCount) header fields")
        }
        var headers = HTTPHeaders()
        for line in lines {
            guard let first = line.first else { continue }
            if first == UInt8(ascii: " ") || first == UInt8(ascii: "\t") {
                throw .badRequest("obsolete line folding")
            }
            guard let colon = line.firstIndex(of: UInt8(ascii: ":")) else {
                throw .badRequest("header line without ':'")
            }
            let name = line[..<colon]
            guard !name.isEmpty else { throw .badRequest("empty header name") }
            for c in name where !HTTPToken.isTokenChar(c) {
                if c == UInt8(ascii: " ") || c == UInt8(ascii: "\t") {
                    throw .badRequest("whitespace before ':' in header field")
                }
                throw .badRequest("invalid character in header name")
            }
            var value = line[(colon + 1)...]
            while let c = value.first, c == UInt8(ascii: " ") || c == UInt8(ascii: "\t") { value.removeFirst() }
            while let c = value.last, c == UInt8(ascii: " ") || c == UInt8(ascii: "\t") { value.removeLast() }
            // field-value = *field-content: VCHAR, obs-text (0x80-0xFF), SP, HTAB.
            for c in value where (c < 0x20 && c != UInt8(ascii: "\t")) || c == 0x7F {
                throw .badRequest("control character in header value")
            }
            // obs-text that is not UTF-8 becomes U+FFFD: no header we read carries it.
            headers.add(String(decoding: name, as: UTF8.self), String(decoding: value, as: UTF8.self))
        }
        return headers
    }
}

enum HTTPToken {
    /// tchar (RFC 9110 5.6.2): "!#$%&'*+-.^_`|~", DIGIT, ALPHA; a table so the per-byte
    /// check on every header name costs one load.
    private static let tokenTable: [Bool] = {
        var table = [Bool](repeating: false, count: 256)
        for c in Array("!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ".utf8) {
            table[Int(c)] = true
        }
        return table
    }()

    @inline(__always)
    static func isTokenChar(_ c: UInt8) -> Bool { tokenTable[Int(c)] }

    static func isToken<C: Collection<UInt8>>(_ bytes: C) -> Bool {
        !bytes.isEmpty && bytes.allSatisfy(isTokenChar)
    }
}

extension ArraySlice<UInt8> {
    /// Splits a head's bytes (without the final blank line) into lines at CRLF. The scanner
    /// has already guaranteed every CR is followed by LF and every LF preceded by CR.
    func crlfLines() -> [ArraySlice<UInt8>] {
        var lines: [ArraySlice<UInt8>] = []
        var lineStart = startIndex
        var i = startIndex
        while i < endIndex {
            if self[i] == UInt8(ascii: "\n") {
                lines.append(self[lineStart..<(i - 1)])
                lineStart = i + 1
            }
            i += 1
        }
        if lineStart < endIndex { lines.append(self[lineStart..<endIndex]) }
        return lines
    }
}
