/// Writes frames in the layout of docs/WIRE.md. Appending to a caller's buffer lets many
/// frames share one buffer and so one `write(2)` (see `FrameBatch`).
public enum PeerFrameEncoder {
    /// Appends `frame` to `buffer`. Throws, leaving `buffer` untouched, if the frame breaks a
    /// rule the decoder enforces (payload over `maxPayloadBytes`, a missing correlation id, …).
    public static func encode(
        _ frame: PeerFrame, into buffer: inout [UInt8],
        maxPayloadBytes: Int = PeerFrameLimits.maxPayloadBytes
    ) throws(PeerFrameError) {
        try PeerFrameRules.check(
            kind: frame.kind, operation: frame.operation, correlationId: frame.correlationId,
            payloadLength: frame.payload.count, maxPayloadBytes: maxPayloadBytes)
        buffer.reserveCapacity(buffer.count + frame.encodedByteCount)
        buffer.append(PeerFrameLimits.magic.0)
        buffer.append(PeerFrameLimits.magic.1)
        buffer.append(PeerFrameLimits.formatVersion)
        buffer.append(frame.kind.rawValue)
        appendBigEndian(UInt64(frame.flags.rawValue), byteCount: 2, to: &buffer)
        appendBigEndian(UInt64(frame.operation), byteCount: 2, to: &buffer)
        appendBigEndian(frame.correlationId, byteCount: 8, to: &buffer)
        appendBigEndian(UInt64(frame.payload.count), byteCount: 4, to: &buffer)
        buffer.append(contentsOf: frame.payload)
    }

    /// One frame on its own.
    public static func encode(_ frame: PeerFrame) throws(PeerFrameError) -> [UInt8] {
        var buffer: [UInt8] = []
        buffer.reserveCapacity(frame.encodedByteCount)
        try encode(frame, into: &buffer)
        return buffer
    }

    private static func appendBigEndian(_ value: UInt64, byteCount: Int, to buffer: inout [UInt8]) {
        for index in stride(from: byteCount - 1, through: 0, by: -1) {
            buffer.append(UInt8(truncatingIfNeeded: value >> UInt64(8 * index)))
        }
    }
}
