/// The client-to-server masking of RFC 6455 5.3: payload byte i is XORed with key[i % 4].
/// XOR is its own inverse, so the same routine masks and unmasks.
enum WebSocketMasking {
    /// XORs `bytes` in place with the 4-byte `key`, 8 bytes per step: the key repeated twice
    /// fills a 64-bit word whatever the byte order, since 8 is a multiple of the key length.
    static func apply(key: (UInt8, UInt8, UInt8, UInt8), to bytes: UnsafeMutableRawBufferPointer) {
        guard let base = bytes.baseAddress else { return }
        let count = bytes.count
        let k32 = withUnsafeBytes(of: key) { $0.loadUnaligned(as: UInt32.self) }
        let k64 = UInt64(k32) | UInt64(k32) << 32
        var i = 0
        while i + 8 <= count {
            let word = base.loadUnaligned(fromByteOffset: i, as: UInt64.self)
            base.storeBytes(of: word ^ k64, toByteOffset: i, as: UInt64.self)
            i += 8
        }
        let keyBytes = [key.0, key.1, key.2, key.3]
        while i < count {
            bytes[i] ^= keyBytes[i & 3]
            i += 1
        }
    }

    /// Masks `array[range]` in place.
    static func apply(key: (UInt8, UInt8, UInt8, UInt8), to array: inout [UInt8], range: Range<Int>) {
        array.withUnsafeMutableBytes { all in
            apply(key: key, to: UnsafeMutableRawBufferPointer(rebasing: all[range]))
        }
    }
}
