/// SHA-256 (FIPS 180-4 section 6.2) of bytes in memory; the compression function is
/// `SHA256Stream`'s, which also hashes data that arrives in pieces.
public enum SHA256 {
    /// The 32-byte digest of `data`.
    public static func hash(_ data: [UInt8]) -> [UInt8] {
        var stream = SHA256Stream()
        stream.update(data)
        return stream.finish()
    }
}
