/// HMAC (RFC 2104) over SHA-256, as used for signed tokens.
public enum HMAC {
    /// SHA-256's block size in bytes (FIPS 180-4): keys longer than this are hashed first.
    private static let blockBytes = 64

    /// HMAC-SHA256(key, message): 32 bytes.
    public static func sha256(key: [UInt8], message: [UInt8]) -> [UInt8] {
        // RFC 2104 section 2: K is hashed if longer than B, then zero-padded to B bytes.
        var k = key.count > blockBytes ? SHA256.hash(key) : key
        k.append(contentsOf: repeatElement(0, count: blockBytes - k.count))
        var inner = k.map { $0 ^ 0x36 }
        inner.append(contentsOf: message)
        var outer = k.map { $0 ^ 0x5C }
        outer.append(contentsOf: SHA256.hash(inner))
        return SHA256.hash(outer)
    }
}
