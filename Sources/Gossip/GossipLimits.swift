/// Bounds of the wire format. They keep the largest single update (395 bytes) well under
/// `GossipSettings.maxDatagramBytes`, so every message fits one datagram.
public enum GossipLimits {
    /// A member name: the node id from the cluster config.
    public static let maxNameBytes = 64
    /// A "host:port" string; 64 bytes holds any IPv6 literal with a port.
    public static let maxAddressBytes = 64
    /// Opaque member metadata (the node's client and peer addresses).
    public static let maxMetaBytes = 255
    /// Largest UDP payload; the decoder refuses anything longer before reading it.
    public static let maxUDPPayloadBytes = 65_507
    /// Smallest `maxDatagramBytes` we accept: the largest ping plus one largest update.
    public static let minDatagramBytes = 700
}
