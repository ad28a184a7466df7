/// The node-to-node protocol version, negotiated in the handshake (docs/WIRE.md,
/// "Versions"). Nodes of the same major version interoperate and use the lower of their two
/// minor versions; a different major version is refused with a reason naming both.
public struct PeerProtocolVersion: Equatable, Hashable, Sendable, CustomStringConvertible {
    public var major: UInt8
    public var minor: UInt8

    public init(major: UInt8, minor: UInt8) {
        self.major = major
        self.minor = minor
    }

    /// What this build speaks.
    public static let current = PeerProtocolVersion(major: 1, minor: 0)

    public var description: String { "\(major).\(minor)" }
}
