/// One frame of the node-to-node protocol: the decoded header fields and the payload, whose
/// encoding belongs to the layer above (see `WireWriter`). docs/WIRE.md lays it out byte by
/// byte.
public struct PeerFrame: Equatable, Sendable {
    public var kind: PeerFrameKind
    public var flags: PeerFrameFlags
    /// What a `request` or `oneway` asks for (and, on a `response`, echoes); 0 elsewhere.
    public var operation: UInt16
    /// Pairs a `response` with its `request` (never 0 on either), a `pong` with its `ping`;
    /// 0 on every other kind.
    public var correlationId: UInt64
    public var payload: [UInt8]

    public init(
        kind: PeerFrameKind,
        flags: PeerFrameFlags = [],
        operation: UInt16 = 0,
        correlationId: UInt64 = 0,
        payload: [UInt8] = []
    ) {
        self.kind = kind
        self.flags = flags
        self.operation = operation
        self.correlationId = correlationId
        self.payload = payload
    }

    /// Bytes this frame takes on the wire.
    public var encodedByteCount: Int { PeerFrameLimits.headerBytes + payload.count }

    public static func request(id: UInt64, operation: UInt16, payload: [UInt8]) -> PeerFrame {
        PeerFrame(kind: .request, operation: operation, correlationId: id, payload: payload)
    }

    public static func response(
        to id: UInt64, operation: UInt16, payload: [UInt8], isError: Bool = false
    ) -> PeerFrame {
        PeerFrame(kind: .response, flags: isError ? .errorResponse : [], operation: operation,
                  correlationId: id, payload: payload)
    }

    public static func oneway(operation: UInt16, payload: [UInt8]) -> PeerFrame {
        PeerFrame(kind: .oneway, operation: operation, payload: payload)
    }

    public static func ping(id: UInt64) -> PeerFrame {
        PeerFrame(kind: .ping, correlationId: id)
    }

    public static func pong(id: UInt64) -> PeerFrame {
        PeerFrame(kind: .pong, correlationId: id)
    }
}
