/// Finds the end of a message head (start line, field lines, blank line) in a growing
/// buffer, resuming where the previous scan stopped so that a head fed one byte at a time
/// is scanned once. Lines must end in CRLF: a bare CR is rejected (RFC 9112 2.2 MUST) and so
/// is a bare LF, which RFC 9112 2.2 allows but which only helps request smuggling.
struct HTTPHeadScanner {
    enum Outcome: Equatable {
        case needMoreBytes
        /// The head is `start..<end`, `end` just past the blank line's CRLF.
        case complete(start: Int, end: Int)
        case malformed(String)
    }

    /// Where the head begins; moves past empty lines sent before the start line, which
    /// RFC 9112 2.2 says a server SHOULD ignore.
    private(set) var start: Int
    /// The end of the start line (index just past its LF), once seen.
    private(set) var startLineEnd: Int?
    private var scanIndex: Int
    private var lineStart: Int
    /// Set once the blank line is found, so repeated scans report the same head.
    private var headEnd: Int?

    init(at index: Int) {
        start = index
        scanIndex = index
        lineStart = index
        startLineEnd = nil
    }

    /// The same scan position after the first `offset` bytes of the buffer were dropped.
    func shifted(by offset: Int) -> HTTPHeadScanner {
        var copy = self
        copy.start -= offset
        copy.scanIndex -= offset
        copy.lineStart -= offset
        copy.startLineEnd = startLineEnd.map { $0 - offset }
        copy.headEnd = headEnd.map { $0 - offset }
        return copy
    }

    /// Bytes of the head seen so far, for the size limit.
    var scannedBytes: Int { scanIndex - start }

    mutating func scan(_ buffer: [UInt8]) -> Outcome {
        if let headEnd { return .complete(start: start, end: headEnd) }
        let cr = UInt8(ascii: "\r"), lf = UInt8(ascii: "\n")
        return buffer.withUnsafeBufferPointer { bytes in
            var i = scanIndex
            defer { scanIndex = i }
            while i < bytes.count {
                let c = bytes[i]
                let afterCR = i > lineStart && bytes[i - 1] == cr
                if c == lf {
                    guard afterCR else { return .malformed("bare LF") }
                    let lineLength = i - 1 - lineStart
                    i += 1
                    if startLineEnd == nil {
                        if lineLength == 0 {
                            start = i   // an empty line before the start line
                        } else {
                            startLineEnd = i
                        }
                    } else if lineLength == 0 {
                        headEnd = i
                        return .complete(start: start, end: i)
                    }
                    lineStart = i
                    continue
                }
                if afterCR { return .malformed("bare CR") }
                i += 1
            }
            return .needMoreBytes
        }
    }
}
