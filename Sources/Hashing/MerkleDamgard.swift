/// The padding and block iteration shared by SHA-1 and SHA-256 (FIPS 180-4 section 5.1.1):
/// append 0x80, zeros up to 56 mod 64, then the message length in bits as a 64-bit big-endian
/// integer, and process 64-byte blocks.
enum MerkleDamgard {
    static let blockBytes = 64

    /// Calls `body` with each padded 64-byte block, without copying the whole message.
    static func forEachBlock(
        of data: [UInt8], lengthBytes: Int, _ body: (UnsafeBufferPointer<UInt8>) -> Void
    ) {
        let fullBlocks = data.count / blockBytes
        data.withUnsafeBufferPointer { buffer in
            for index in 0..<fullBlocks {
                body(UnsafeBufferPointer(rebasing: buffer[(index * blockBytes)..<((index + 1) * blockBytes)]))
            }
        }
        // The tail: the remaining bytes, the 0x80 marker, zeros, the bit length.
        var tail = Array(data[(fullBlocks * blockBytes)...])
        tail.append(0x80)
        while tail.count % blockBytes != blockBytes - lengthBytes { tail.append(0) }
        let bitLength = UInt64(truncatingIfNeeded: data.count) &* 8
        for shift in stride(from: 56, through: 0, by: -8) {
            tail.append(UInt8(truncatingIfNeeded: bitLength >> UInt64(shift)))
        }
        tail.withUnsafeBufferPointer { buffer in
            for index in 0..<(tail.count / blockBytes) {
                body(UnsafeBufferPointer(rebasing: buffer[(index * blockBytes)..<((index + 1) * blockBytes)]))
            }
        }
    }

    @inline(__always)
    static func bigEndianWord(_ block: UnsafeBufferPointer<UInt8>, _ index: Int) -> UInt32 {
        let i = index * 4
        return UInt32(block[i]) << 24 | UInt32(block[i + 1]) << 16
            | UInt32(block[i + 2]) << 8 | UInt32(block[i + 3])
    }

    @inline(__always)
    static func appendBigEndian(_ word: UInt32, to out: inout [UInt8]) {
        out.append(UInt8(truncatingIfNeeded: word >> 24))
        out.append(UInt8(truncatingIfNeeded: word >> 16))
        out.append(UInt8(truncatingIfNeeded: word >> 8))
        out.append(UInt8(truncatingIfNeeded: word))
    }
}
