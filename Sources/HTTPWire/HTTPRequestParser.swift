/// Incremental HTTP/1.1 request parser (RFC 9112), server side. Feed it the bytes read from
/// a connection and call `next()` until it returns nil; pipelined requests come out in order.
///
/// Memory: one request never makes it hold more than `maxHeaderBytes + maxBodyBytes`, plus
/// the bytes the caller fed beyond that request before calling `next()` again. Callers that
/// stop calling `next()` (for instance while a request is being handled) should stop reading
/// from the socket once `bufferedByteCount` passes their own bound.
public struct HTTPRequestParser {
    private enum State {
        /// Looking for the end of the next request's head.
        case readingHead(HTTPHeadScanner)
        /// Head parsed; waiting until the body's `contentLength` bytes have arrived.
        /// `continueTaken` records whether the caller has been told to send 100 Continue.
        case readingBody(RequestHead, bodyStart: Int, continueTaken: Bool)
        /// A streamed body (`HTTPLimits.streamedBodyPaths`) of which `remaining` bytes are still
        /// to be taken with `takeStreamedBody`.
        case streamingBody(remaining: Int)
        /// The stream is unusable; every later `next()` throws this.
        case failed(HTTPParseError)
    }

    /// Bytes consumed from the front of `buffer` are dropped once they are at least this
    /// many and at least half the buffer, so compaction costs O(1) amortised per byte.
    private static let compactThresholdBytes = 4096
    /// After the buffer empties, its storage is kept only up to this size, so that an idle
    /// keep-alive connection that once received a 1 MiB body does not keep 1 MiB.
    private static let retainedCapacityBytes = 16 * 1024

    public let limits: HTTPLimits
    private var buffer: [UInt8] = []
    /// Start of the first byte not yet returned in a request.
    private var readIndex = 0
    private var state: State

    public init(limits: HTTPLimits = .default) {
        self.limits = limits
        state = .readingHead(HTTPHeadScanner(at: 0))
    }

    public mutating func feed(_ bytes: UnsafeRawBufferPointer) {
        if case .failed = state { return }
        compact()
        buffer.append(contentsOf: bytes)
        enforceHeadLimit()
    }

    public mutating func feed(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { feed($0) }
    }

    /// The next complete request, nil if more bytes are needed. Throws once the stream is
    /// unusable (the caller answers with err.status and closes); later calls throw again.
    public mutating func next() throws(HTTPParseError) -> HTTPRequest? {
        switch state {
        case .failed(let error):
            throw error
        case .readingHead(var scanner):
            let outcome = scanner.scan(buffer)
            state = .readingHead(scanner)
            switch outcome {
            case .needMoreBytes:
                readIndex = scanner.start   // empty lines before a request are dropped
                try checkHeadLimit(scanner)
                return nil
            case .malformed(let message):
                throw fail(.badRequest(message))
            case .complete(let start, let end):
                readIndex = start
                guard end - start <= limits.maxHeaderBytes else {
                    throw fail(.headersTooLarge("request head exceeds \(limits.maxHeaderBytes) bytes"))
                }
                let head: RequestHead
                var headLimits = limits
                headLimits.maxBodyBytes = max(limits.maxBodyBytes, limits.maxStreamedBodyBytes)
                do {
                    head = try RequestHead.parse(buffer[start..<(end - 2)], limits: headLimits)
                } catch {
                    throw fail(error)
                }
                let streamed = limits.streamedBodyPaths.contains(head.method + " " + head.requestTarget.path)
                let bound = streamed ? limits.maxStreamedBodyBytes : limits.maxBodyBytes
                guard head.contentLength <= bound else { throw fail(.bodyTooLarge("body exceeds \(bound) bytes")) }
                if streamed {
                    readIndex = end
                    state = head.contentLength > 0 ? .streamingBody(remaining: head.contentLength) : .readingHead(HTTPHeadScanner(at: end))
                    var request = HTTPRequest(
                        method: head.method, target: head.target, path: head.requestTarget.path,
                        pathSegments: head.requestTarget.segments, query: head.requestTarget.query,
                        version: head.version, headers: head.headers, body: [],
                        keepAlive: HTTPRequest.keepAlive(version: head.version, headers: head.headers))
                    request.streamedBodyBytes = head.contentLength
                    return request
                }
                state = .readingBody(head, bodyStart: end, continueTaken: false)
                return completeRequestIfReady()
            }
        case .readingBody:
            return completeRequestIfReady()
        case .streamingBody:
            return nil
        }
    }

    /// Bytes of the streamed body still to come (0 when no streamed body is under way).
    public var streamedBodyRemaining: Int {
        if case .streamingBody(let remaining) = state { return remaining }
        return 0
    }

    /// Up to `maxBytes` of the streamed body that have arrived (empty if none yet). After its
    /// last byte the parser reads the next request's head.
    public mutating func takeStreamedBody(maxBytes: Int) -> [UInt8] {
        guard case .streamingBody(let remaining) = state else { return [] }
        let count = min(remaining, maxBytes, buffer.count - readIndex)
        guard count > 0 else { return [] }
        let piece = Array(buffer[readIndex..<(readIndex + count)])
        readIndex += count
        state = remaining == count ? .readingHead(HTTPHeadScanner(at: readIndex)) : .streamingBody(remaining: remaining - count)
        compact()
        return piece
    }

    /// True once per request whose head carried `Expect: 100-continue` and whose body has not
    /// fully arrived: the caller should then write `HTTPResponse.continueHead` (RFC 9110
    /// 10.1.1) or the client may wait about a second before sending the body.
    public mutating func takeContinueRequest() -> Bool {
        guard case .readingBody(let head, let bodyStart, false) = state, head.expectsContinue else { return false }
        state = .readingBody(head, bodyStart: bodyStart, continueTaken: true)
        return true
    }

    /// Bytes received after the last returned request (used after a WebSocket upgrade). The
    /// parser is left empty, ready for a new request.
    public mutating func takeBufferedBytes() -> [UInt8] {
        let rest = Array(buffer[min(readIndex, buffer.count)...])
        buffer = []
        readIndex = 0
        if case .failed = state { return rest }
        state = .readingHead(HTTPHeadScanner(at: 0))
        return rest
    }

    /// Bytes held that belong to no returned request.
    public var bufferedByteCount: Int { buffer.count - readIndex }

    /// Some bytes of an unfinished request are buffered (empty lines between requests, which
    /// RFC 9112 2.2 lets us ignore, do not count).
    public var isMidRequest: Bool {
        switch state {
        case .failed: return false
        case .readingBody, .streamingBody: return true
        case .readingHead(let scanner): return buffer.count > scanner.start
        }
    }

    // MARK: - Private

    private mutating func completeRequestIfReady() -> HTTPRequest? {
        guard case .readingBody(let head, let bodyStart, _) = state,
              buffer.count - bodyStart >= head.contentLength
        else { return nil }
        let bodyEnd = bodyStart + head.contentLength
        let request = HTTPRequest(
            method: head.method, target: head.target, path: head.requestTarget.path,
            pathSegments: head.requestTarget.segments, query: head.requestTarget.query,
            version: head.version, headers: head.headers, body: Array(buffer[bodyStart..<bodyEnd]),
            keepAlive: HTTPRequest.keepAlive(version: head.version, headers: head.headers))
        readIndex = bodyEnd
        state = .readingHead(HTTPHeadScanner(at: bodyEnd))
        return request
    }

    /// Called from `feed` so that a client sending an endless head is cut off at the limit
    /// even if the caller never calls `next()`.
    private mutating func enforceHeadLimit() {
        guard case .readingHead(var scanner) = state else { return }
        let outcome = scanner.scan(buffer)
        state = .readingHead(scanner)
        if case .needMoreBytes = outcome {
            do { try checkHeadLimit(scanner) } catch { _ = fail(error) }
        }
    }

    /// A head not finished within `maxHeaderBytes`: 414 if the request line alone is that
    /// long (RFC 9112 3: MUST), else 431 (RFC 6585 5).
    private func checkHeadLimit(_ scanner: HTTPHeadScanner) throws(HTTPParseError) {
        guard scanner.scannedBytes > limits.maxHeaderBytes else { return }
        if scanner.startLineEnd == nil {
            throw .uriTooLong("request line exceeds \(limits.maxHeaderBytes) bytes")
        }
        throw .headersTooLarge("request head exceeds \(limits.maxHeaderBytes) bytes")
    }

    /// Enters the failed state, releasing the buffer: nothing after a framing error is used.
    private mutating func fail(_ error: HTTPParseError) -> HTTPParseError {
        state = .failed(error)
        buffer = []
        readIndex = 0
        return error
    }

    private mutating func compact() {
        if readIndex == buffer.count, readIndex > 0 {
            buffer.removeAll(keepingCapacity: buffer.capacity <= Self.retainedCapacityBytes)
            shift(by: readIndex)
        } else if readIndex >= Self.compactThresholdBytes, readIndex * 2 >= buffer.count {
            buffer.removeSubrange(0..<readIndex)
            shift(by: readIndex)
        }
    }

    /// Moves every stored index left by `offset` after dropping that many leading bytes.
    private mutating func shift(by offset: Int) {
        readIndex -= offset
        switch state {
        case .readingHead(let scanner): state = .readingHead(scanner.shifted(by: offset))
        case .readingBody(let head, let bodyStart, let taken):
            state = .readingBody(head, bodyStart: bodyStart - offset, continueTaken: taken)
        case .streamingBody, .failed: break
        }
    }
}

extension HTTPRequest {
    init(
        method: String, target: String, path: String, pathSegments: [String],
        query: [String: String], version: String, headers: HTTPHeaders, body: [UInt8], keepAlive: Bool
    ) {
        self.method = method
        self.target = target
        self.path = path
        self.pathSegments = pathSegments
        self.query = query
        self.version = version
        self.headers = headers
        self.body = body
        self.keepAlive = keepAlive
    }
}
