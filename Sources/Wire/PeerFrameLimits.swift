/// Sizes fixed by the frame format (docs/WIRE.md, "Limits").
public enum PeerFrameLimits {
    /// Every frame starts with this many header bytes; the payload follows.
    public static let headerBytes = 20

    /// Largest frame, header included: 16 MiB. Large enough for a batch of log entries or a
    /// shard-snapshot chunk (snapshots are sent as many chunks, each well under this), small
    /// enough that one hostile or broken peer cannot make a node buffer more than this per
    /// connection. The decoder refuses a larger length from the header alone.
    public static let maxFrameBytes = 16 << 20

    /// Largest payload of a frame: `maxFrameBytes` less the header.
    public static let maxPayloadBytes = maxFrameBytes - headerBytes

    /// Largest payload accepted before the handshake ends: 1 KiB. A hello is at most
    /// 2 + 2 * (1 + 64) + 32 = 164 bytes; an unauthenticated peer gets no more buffer than
    /// this. The shell decodes with this limit until `PeerHandshake` says `established`.
    public static let maxHandshakePayloadBytes = 1024

    /// "RP" (Relay Peer): the first two bytes of every frame. A connection that starts with
    /// anything else (an HTTP client on the wrong port, a desynchronised stream) is refused at
    /// the first frame instead of being read as a huge length.
    public static let magic: (UInt8, UInt8) = (0x52, 0x50)

    /// Version of the header layout itself (byte 2). Only a change of the 20-byte header
    /// changes it; protocol versions are negotiated in the handshake (`PeerProtocolVersion`).
    public static let formatVersion: UInt8 = 1
}
