/// Collects outgoing frames into one buffer so the shell sends many small messages with one
/// `write(2)` instead of one syscall (and one TCP segment) each. The shell appends what a loop
/// turn produced, then writes `take()` when `shouldFlush` says so or the turn ends.
public struct FrameBatch: Sendable {
    /// Bytes after which the batch asks to be flushed: 64 KiB, about what one `write(2)` to a
    /// loopback or LAN socket takes in one go; a larger batch only delays the first byte.
    public static let defaultMaxBatchBytes = 64 << 10

    public let maxBatchBytes: Int
    public private(set) var bytes: [UInt8] = []
    public private(set) var frameCount = 0

    public init(maxBatchBytes: Int = FrameBatch.defaultMaxBatchBytes) {
        self.maxBatchBytes = max(PeerFrameLimits.headerBytes, maxBatchBytes)
    }

    public var isEmpty: Bool { frameCount == 0 }

    /// True once the batch holds `maxBatchBytes` or more: write it now.
    public var shouldFlush: Bool { bytes.count >= maxBatchBytes }

    /// True if `frame` would push a non-empty batch past `maxBatchBytes`: a shell that wants
    /// batches never to exceed the bound flushes first. A single frame larger than the bound
    /// still goes out, alone.
    public func wouldOverflow(_ frame: PeerFrame) -> Bool {
        !isEmpty && bytes.count + frame.encodedByteCount > maxBatchBytes
    }

    /// Appends `frame`; returns `shouldFlush`. Throws (leaving the batch as it was) for a
    /// frame the encoder refuses.
    @discardableResult
    public mutating func append(_ frame: PeerFrame) throws(PeerFrameError) -> Bool {
        try PeerFrameEncoder.encode(frame, into: &bytes)
        frameCount += 1
        return shouldFlush
    }

    /// The batched bytes, leaving the batch empty.
    public mutating func take() -> [UInt8] {
        let taken = bytes
        bytes = []
        bytes.reserveCapacity(min(taken.count, maxBatchBytes))
        frameCount = 0
        return taken
    }
}
