/// A hash that is the same in every process, on every machine and in every release: the key to
/// shard mapping and the ring's virtual nodes depend on it, so it must never change. Swift's
/// `Hasher` is seeded per process and is never used for placement.
public enum StableHash {
    // XXH64 constants, from the xxHash specification (doc/xxhash_spec.md, "XXH64 algorithm").
    static let prime1: UInt64 = 0x9E37_79B1_85EB_CA87
    static let prime2: UInt64 = 0xC2B2_AE3D_27D4_EB4F
    static let prime3: UInt64 = 0x1656_67B1_9E37_79F9
    static let prime4: UInt64 = 0x85EB_CA77_C2B2_AE63
    static let prime5: UInt64 = 0x27D4_EB2F_1656_67C5

    /// xxHash64 (XXH64) of the bytes; published vectors in the tests
    /// (e.g. XXH64("", 0) = 0xEF46DB3751D8E999).
    public static func xxh64(_ bytes: [UInt8], seed: UInt64 = 0) -> UInt64 {
        bytes.withUnsafeBufferPointer { xxh64(buffer: $0, seed: seed) }
    }

    /// xxHash64 of the string's UTF-8 bytes.
    public static func xxh64(_ text: String, seed: UInt64 = 0) -> UInt64 {
        var text = text
        return text.withUTF8 { xxh64(buffer: $0, seed: seed) }
    }

    static func xxh64(buffer: UnsafeBufferPointer<UInt8>, seed: UInt64) -> UInt64 {
        let count = buffer.count
        var index = 0
        var hash: UInt64

        // Spec step 1-2: four lanes over 32-byte stripes, then converge.
        if count >= 32 {
            var v1 = seed &+ prime1 &+ prime2
            var v2 = seed &+ prime2
            var v3 = seed
            var v4 = seed &- prime1
            while index + 32 <= count {
                v1 = round(v1, readUInt64(buffer, index))
                v2 = round(v2, readUInt64(buffer, index + 8))
                v3 = round(v3, readUInt64(buffer, index + 16))
                v4 = round(v4, readUInt64(buffer, index + 24))
                index += 32
            }
            hash = rotl(v1, 1) &+ rotl(v2, 7) &+ rotl(v3, 12) &+ rotl(v4, 18)
            hash = mergeRound(hash, v1)
            hash = mergeRound(hash, v2)
            hash = mergeRound(hash, v3)
            hash = mergeRound(hash, v4)
        } else {
            hash = seed &+ prime5
        }

        // Spec step 4: add the input length.
        hash = hash &+ UInt64(count)

        // Spec step 5: consume the remaining 0-31 bytes.
        while index + 8 <= count {
            hash ^= round(0, readUInt64(buffer, index))
            hash = rotl(hash, 27) &* prime1 &+ prime4
            index += 8
        }
        if index + 4 <= count {
            hash ^= UInt64(readUInt32(buffer, index)) &* prime1
            hash = rotl(hash, 23) &* prime2 &+ prime3
            index += 4
        }
        while index < count {
            hash ^= UInt64(buffer[index]) &* prime5
            hash = rotl(hash, 11) &* prime1
            index += 1
        }

        // Spec step 6: final mix (avalanche).
        hash ^= hash >> 33
        hash = hash &* prime2
        hash ^= hash >> 29
        hash = hash &* prime3
        hash ^= hash >> 32
        return hash
    }

    private static func round(_ acc: UInt64, _ lane: UInt64) -> UInt64 {
        rotl(acc &+ lane &* prime2, 31) &* prime1
    }

    private static func mergeRound(_ acc: UInt64, _ value: UInt64) -> UInt64 {
        (acc ^ round(0, value)) &* prime1 &+ prime4
    }

    private static func rotl(_ value: UInt64, _ bits: UInt64) -> UInt64 {
        (value << bits) | (value >> (64 - bits))
    }

    /// Little-endian read, whatever the host's byte order (the spec reads lanes little-endian).
    private static func readUInt64(_ buffer: UnsafeBufferPointer<UInt8>, _ at: Int) -> UInt64 {
        var value: UInt64 = 0
        for offset in 0..<8 {
            value |= UInt64(buffer[at + offset]) << (8 * UInt64(offset))
        }
        return value
    }

    private static func readUInt32(_ buffer: UnsafeBufferPointer<UInt8>, _ at: Int) -> UInt32 {
        var value: UInt32 = 0
        for offset in 0..<4 {
            value |= UInt32(buffer[at + offset]) << (8 * UInt32(offset))
        }
        return value
    }
}
