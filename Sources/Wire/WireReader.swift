/// Reads what `WireWriter` wrote. Every read checks the bytes left before touching them and
/// throws `WireError` instead of trapping, and every length prefix is checked against a bound
/// the caller names before anything is copied, so a hostile payload cannot make it allocate.
public struct WireReader: Sendable {
    private let bytes: [UInt8]
    public private(set) var offset: Int

    public init(_ bytes: [UInt8]) {
        self.bytes = bytes
        self.offset = 0
    }

    public var remainingCount: Int { bytes.count - offset }
    public var isAtEnd: Bool { offset >= bytes.count }

    private mutating func need(_ count: Int) throws {
        guard count <= remainingCount else {
            throw WireError.truncated(needed: count, available: remainingCount)
        }
    }

    public mutating func readU8() throws -> UInt8 {
        try need(1)
        defer { offset += 1 }
        return bytes[offset]
    }

    public mutating func readU16() throws -> UInt16 {
        try need(2)
        defer { offset += 2 }
        return UInt16(bytes[offset]) << 8 | UInt16(bytes[offset + 1])
    }

    public mutating func readU32() throws -> UInt32 {
        try need(4)
        var value: UInt32 = 0
        for i in 0..<4 { value = value << 8 | UInt32(bytes[offset + i]) }
        offset += 4
        return value
    }

    public mutating func readU64() throws -> UInt64 {
        try need(8)
        var value: UInt64 = 0
        for i in 0..<8 { value = value << 8 | UInt64(bytes[offset + i]) }
        offset += 8
        return value
    }

    /// Unsigned LEB128. More than 10 bytes, or a 10th byte carrying bits past 64, is
    /// `varintOverflow`.
    public mutating func readVarint() throws -> UInt64 {
        var value: UInt64 = 0
        for index in 0..<10 {
            let byte = try readU8()
            if index == 9 && byte > 1 { throw WireError.varintOverflow }
            value |= UInt64(byte & 0x7F) << UInt64(7 * index)
            if byte & 0x80 == 0 { return value }
        }
        throw WireError.varintOverflow
    }

    /// Exactly `count` bytes, no length prefix.
    public mutating func readRaw(count: Int) throws -> [UInt8] {
        guard count >= 0 else { throw WireError.lengthTooLarge(length: 0, max: 0) }
        try need(count)
        defer { offset += count }
        return Array(bytes[offset..<offset + count])
    }

    /// A u32 length then that many bytes; a length above `maxBytes` throws before copying.
    public mutating func readBytes(maxBytes: Int) throws -> [UInt8] {
        let length = try readU32()
        guard UInt64(length) <= UInt64(max(0, maxBytes)) else {
            throw WireError.lengthTooLarge(length: UInt64(length), max: maxBytes)
        }
        return try readRaw(count: Int(length))
    }

    /// A u32 length then that many bytes of UTF-8.
    public mutating func readString(maxBytes: Int) throws -> String {
        try Self.decodeUTF8(readBytes(maxBytes: maxBytes))
    }

    /// A u8 length then that many bytes; a length above `maxBytes` throws.
    public mutating func readShortBytes(maxBytes: Int) throws -> [UInt8] {
        let length = try readU8()
        guard Int(length) <= maxBytes else {
            throw WireError.lengthTooLarge(length: UInt64(length), max: maxBytes)
        }
        return try readRaw(count: Int(length))
    }

    /// A u8 length then that many bytes of UTF-8.
    public mutating func readShortString(maxBytes: Int) throws -> String {
        try Self.decodeUTF8(readShortBytes(maxBytes: maxBytes))
    }

    /// Throws `trailingBytes` unless every byte was read: a payload with extra bytes is
    /// malformed, not "compatible".
    public func expectEnd() throws {
        guard isAtEnd else { throw WireError.trailingBytes(count: remainingCount) }
    }

    private static func decodeUTF8(_ raw: [UInt8]) throws -> String {
        // `String(decoding:)` repairs ill-formed UTF-8 (overlongs, surrogates) with U+FFFD; a
        // repaired string no longer matches its bytes, so the comparison refuses it. Strings
        // are compared and MACed as the bytes sent, never as a repaired copy.
        let string = String(decoding: raw, as: UTF8.self)
        guard string.utf8.elementsEqual(raw) else { throw WireError.invalidUTF8 }
        return string
    }
}
