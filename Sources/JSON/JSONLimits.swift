/// Bounds the parser enforces on one document, so a hostile peer cannot make it use unbounded
/// time, memory or stack (RFC 8259 §9: "An implementation may set limits on the size of texts
/// that it accepts ... on the maximum depth of nesting ... on the range and precision of
/// numbers ... on the length and character contents of strings").
public struct JSONLimits: Sendable, Equatable {
    /// Most containers (arrays and objects) open at once. 64 is far deeper than any protocol
    /// frame needs; the parser's explicit stack grows at most this deep.
    public var maxDepth: Int
    /// Longest input accepted, in bytes. 1 MiB covers a 64 KiB message body many times over.
    public var maxBytes: Int
    /// Longest string (a value or a key) after unescaping, in UTF-8 bytes.
    public var maxStringBytes: Int
    /// Most values in one document, counting every scalar and container (keys not counted).
    /// Bounds the memory a small input full of `[]` or `0,` can expand to.
    public var maxMembers: Int

    public static let `default` = JSONLimits(
        maxDepth: 64,
        maxBytes: 1 << 20,
        maxStringBytes: 1 << 20,
        maxMembers: 100_000
    )

    public init(maxDepth: Int, maxBytes: Int, maxStringBytes: Int, maxMembers: Int) {
        self.maxDepth = maxDepth
        self.maxBytes = maxBytes
        self.maxStringBytes = maxStringBytes
        self.maxMembers = maxMembers
    }
}
