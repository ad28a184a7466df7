/// Cuts a TCP byte stream into frames. Feed it whatever each `read(2)` returned, then call
/// `next()` until it returns nil: one read may hold many frames, and a frame may arrive split
/// at any byte across reads.
///
/// Bounded: a header announcing more than `maxPayloadBytes` is refused as soon as its 20
/// bytes are in, so the decoder never waits for (or buffers) an oversized payload. What it
/// holds is at most one partial frame plus the last read, provided the shell drains `next()`
/// after every `feed`. After an error the stream's boundaries are lost: every later `next()`
/// throws the same error and the shell closes the connection.
public struct PeerFrameDecoder: Sendable {
    /// Largest payload accepted, checked from the header. Start a connection at
    /// `PeerFrameLimits.maxHandshakePayloadBytes` and raise it to
    /// `PeerFrameLimits.maxPayloadBytes` once the handshake is established, so that an
    /// unauthenticated peer cannot make this node buffer megabytes.
    public var maxPayloadBytes: Int

    private var buffer: [UInt8] = []
    /// Start of the first unconsumed byte in `buffer`. Consumed bytes are dropped in bulk
    /// (see `compact`) rather than per frame, so many small frames per read stay O(n).
    private var start = 0
    private var failure: PeerFrameError?

    public init(maxPayloadBytes: Int = PeerFrameLimits.maxPayloadBytes) {
        self.maxPayloadBytes = min(max(0, maxPayloadBytes), PeerFrameLimits.maxPayloadBytes)
    }

    /// Bytes held that are not yet part of a returned frame.
    public var bufferedByteCount: Int { buffer.count - start }

    public mutating func feed<Bytes: Sequence>(_ bytes: Bytes) where Bytes.Element == UInt8 {
        compact()
        buffer.append(contentsOf: bytes)
    }

    /// The next whole frame, nil if more bytes are needed, or the error that makes the stream
    /// unreadable.
    public mutating func next() throws(PeerFrameError) -> PeerFrame? {
        if let failure { throw failure }
        do {
            return try decodeOne()
        } catch {
            failure = error
            throw error
        }
    }

    private mutating func decodeOne() throws(PeerFrameError) -> PeerFrame? {
        // The magic is checked as soon as its bytes arrive, so a stranger speaking another
        // protocol is refused at once rather than after 20 bytes.
        let available = bufferedByteCount
        if available >= 1, buffer[start] != PeerFrameLimits.magic.0 {
            throw .badMagic(buffer[start], available >= 2 ? buffer[start + 1] : 0)
        }
        if available >= 2, buffer[start + 1] != PeerFrameLimits.magic.1 {
            throw .badMagic(buffer[start], buffer[start + 1])
        }
        guard available >= PeerFrameLimits.headerBytes else { return nil }

        let version = buffer[start + 2]
        guard version == PeerFrameLimits.formatVersion else {
            throw .unsupportedFormatVersion(version)
        }
        guard let kind = PeerFrameKind(rawValue: buffer[start + 3]) else {
            throw .unknownKind(buffer[start + 3])
        }
        let flags = UInt16(truncatingIfNeeded: readBigEndian(at: start + 4, byteCount: 2))
        let operation = UInt16(truncatingIfNeeded: readBigEndian(at: start + 6, byteCount: 2))
        let correlationId = readBigEndian(at: start + 8, byteCount: 8)
        // A u32 always fits an Int on the 64-bit platforms this runs on.
        let length = Int(readBigEndian(at: start + 16, byteCount: 4))
        try PeerFrameRules.check(
            kind: kind, operation: operation, correlationId: correlationId,
            payloadLength: length, maxPayloadBytes: maxPayloadBytes)

        guard available - PeerFrameLimits.headerBytes >= length else { return nil }
        let payloadStart = start + PeerFrameLimits.headerBytes
        let payload = Array(buffer[payloadStart..<payloadStart + length])
        start = payloadStart + length
        return PeerFrame(kind: kind, flags: PeerFrameFlags(rawValue: flags), operation: operation,
                         correlationId: correlationId, payload: payload)
    }

    private func readBigEndian(at offset: Int, byteCount: Int) -> UInt64 {
        var value: UInt64 = 0
        for index in offset..<offset + byteCount { value = value << 8 | UInt64(buffer[index]) }
        return value
    }

    /// Drops consumed bytes once they are at least half the buffer, so the copy is amortised
    /// O(1) per byte and the buffer never keeps more than twice what is unconsumed.
    private mutating func compact() {
        if start == buffer.count {
            buffer.removeAll(keepingCapacity: buffer.capacity <= 1 << 20)
            start = 0
        } else if start > 0, start >= buffer.count / 2 {
            buffer.removeFirst(start)
            start = 0
        }
    }
}
