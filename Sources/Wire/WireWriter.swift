/// Appends big-endian ("network order", RFC 1700) integers, LEB128 varints and
/// length-prefixed byte strings to a buffer, for frame payloads. The layout of each payload is
/// written down in docs/WIRE.md; `WireReader` reads it back.
public struct WireWriter: Sendable {
    public private(set) var bytes: [UInt8]

    public init(reservingCapacity capacity: Int = 0) {
        bytes = []
        bytes.reserveCapacity(max(0, capacity))
    }

    public mutating func writeU8(_ value: UInt8) {
        bytes.append(value)
    }

    public mutating func writeU16(_ value: UInt16) {
        bytes.append(UInt8(truncatingIfNeeded: value >> 8))
        bytes.append(UInt8(truncatingIfNeeded: value))
    }

    public mutating func writeU32(_ value: UInt32) {
        for shift in stride(from: 24, through: 0, by: -8) {
            bytes.append(UInt8(truncatingIfNeeded: value >> UInt32(shift)))
        }
    }

    public mutating func writeU64(_ value: UInt64) {
        for shift in stride(from: 56, through: 0, by: -8) {
            bytes.append(UInt8(truncatingIfNeeded: value >> UInt64(shift)))
        }
    }

    /// Unsigned LEB128 (the protobuf varint): 7 bits per byte, low group first, high bit set on
    /// every byte but the last. 1 byte below 128, at most 10 bytes for a `UInt64`.
    public mutating func writeVarint(_ value: UInt64) {
        var rest = value
        while rest >= 0x80 {
            bytes.append(UInt8(truncatingIfNeeded: rest) | 0x80)
            rest >>= 7
        }
        bytes.append(UInt8(rest))
    }

    /// Bytes as they are, no length: for fixed-size fields such as a 32-byte nonce.
    public mutating func writeRaw(_ raw: [UInt8]) {
        bytes.append(contentsOf: raw)
    }

    /// A u32 length, then the bytes.
    public mutating func writeBytes(_ raw: [UInt8]) {
        writeU32(UInt32(truncatingIfNeeded: raw.count))
        bytes.append(contentsOf: raw)
    }

    /// A u32 length, then the string's UTF-8 bytes.
    public mutating func writeString(_ string: String) {
        writeBytes(Array(string.utf8))
    }

    /// A u8 length, then the bytes: for short identifiers. The caller keeps them under 256
    /// bytes (a longer one is cut to 255 so the length byte never lies).
    public mutating func writeShortBytes(_ raw: [UInt8]) {
        let kept = raw.prefix(Int(UInt8.max))
        bytes.append(UInt8(kept.count))
        bytes.append(contentsOf: kept)
    }

    /// A u8 length, then the string's UTF-8 bytes (see `writeShortBytes`).
    public mutating func writeShortString(_ string: String) {
        writeShortBytes(Array(string.utf8))
    }
}
