/// A `Range` request header against a representation of `size` bytes (RFC 9110 14.1.2, 14.2).
/// Only a single `bytes=` range is honoured; a list of ranges, another unit or a malformed
/// value is ignored (RFC 9110 14.2: a server MAY ignore Range), which answers the whole body.
public enum ByteRange: Equatable, Sendable {
    /// Answer the whole representation (200).
    case whole
    /// Answer bytes `first...last` (206 with `Content-Range: bytes first-last/size`).
    case part(first: Int, last: Int)
    /// No byte of the range exists (416 with `Content-Range: bytes */size`).
    case unsatisfiable

    public static func parse(_ header: String?, size: Int) -> ByteRange {
        guard let header else { return .whole }
        let value = header.trimmingASCIISpaces()
        guard value.lowercased().hasPrefix("bytes=") else { return .whole }
        let spec = value.dropFirst("bytes=".count).trimmingASCIISpaces()
        guard !spec.contains(","), let dash = spec.firstIndex(of: "-") else { return .whole }
        let firstText = spec[..<dash].trimmingASCIISpaces(), lastText = spec[spec.index(after: dash)...].trimmingASCIISpaces()
        if firstText.isEmpty {
            // bytes=-N: the last N bytes (RFC 9110 14.1.2 suffix-range).
            guard let n = digits(lastText) else { return .whole }
            guard n > 0, size > 0 else { return .unsatisfiable }
            return .part(first: max(0, size - n), last: size - 1)
        }
        guard let first = digits(firstText) else { return .whole }
        let last: Int
        if lastText.isEmpty {
            last = size - 1
        } else {
            guard let value = digits(lastText), value >= first else { return .whole }   // invalid: ignored
            last = min(value, size - 1)
        }
        guard first < size else { return .unsatisfiable }
        return .part(first: first, last: last)
    }

    /// 1*DIGIT, refusing what does not fit an Int (a range past any size is clamped above).
    private static func digits(_ text: Substring) -> Int? {
        guard !text.isEmpty, text.utf8.count <= 18, text.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else {
            return text.utf8.count > 18 && text.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) ? Int.max / 2 : nil
        }
        return Int(text)
    }
}

extension StringProtocol {
    fileprivate func trimmingASCIISpaces() -> Substring {
        var s = Substring(self)
        while let c = s.first, c == " " || c == "\t" { s.removeFirst() }
        while let c = s.last, c == " " || c == "\t" { s.removeLast() }
        return s
    }
}

/// `If-None-Match` (RFC 9110 13.1.2): whether the header names `etag` (a quoted strong tag),
/// weakly compared, or is `*`.
public func ifNoneMatchMatches(_ header: String?, etag: String) -> Bool {
    guard let header else { return false }
    for item in header.split(separator: ",") {
        var tag = Substring(item)
        while let c = tag.first, c == " " || c == "\t" { tag.removeFirst() }
        while let c = tag.last, c == " " || c == "\t" { tag.removeLast() }
        if tag == "*" { return true }
        if tag.hasPrefix("W/") { tag = tag.dropFirst(2) }
        if tag == etag { return true }
    }
    return false
}
