/// Why a datagram was refused. Every hostile input ends here, never in a trap.
public enum GossipDecodeError: Error, Sendable, Equatable {
    case empty
    case tooLong(bytes: Int)
    case unsupportedVersion(UInt8)
    case unknownMessageKind(UInt8)
    case unknownUpdateKind(UInt8)
    case unknownStatus(UInt8)
    case truncated
    case emptyOrOversizedField
    case invalidUTF8
    case invalidPushPullPart
    case unknownFlags(UInt8)
    case trailingBytes(count: Int)
}

/// Big-endian writer.
struct ByteWriter {
    var bytes: [UInt8] = []

    mutating func u8(_ v: UInt8) { bytes.append(v) }
    mutating func u16(_ v: UInt16) { bytes.append(UInt8(v >> 8)); bytes.append(UInt8(v & 0xFF)) }
    mutating func u32(_ v: UInt32) { for s in stride(from: 24, through: 0, by: -8) { bytes.append(UInt8((v >> UInt32(s)) & 0xFF)) } }
    mutating func u64(_ v: UInt64) { for s in stride(from: 56, through: 0, by: -8) { bytes.append(UInt8((v >> UInt64(s)) & 0xFF)) } }

    /// A byte-length-prefixed field; callers keep fields ≤ 255 bytes (`GossipLimits`).
    mutating func short(_ field: [UInt8]) {
        bytes.append(UInt8(truncatingIfNeeded: field.count))
        bytes.append(contentsOf: field.prefix(255))
    }

    mutating func string(_ s: String) { short(Array(s.utf8)) }

    mutating func id(_ id: MemberID) {
        string(id.name)
        string(id.address)
    }
}

/// Bounds-checked big-endian reader over hostile bytes.
struct ByteReader {
    private let bytes: [UInt8]
    private(set) var offset = 0

    init(_ bytes: [UInt8]) { self.bytes = bytes }

    var remaining: Int { bytes.count - offset }

    mutating func u8() throws(GossipDecodeError) -> UInt8 {
        guard remaining >= 1 else { throw .truncated }
        defer { offset += 1 }
        return bytes[offset]
    }

    mutating func u16() throws(GossipDecodeError) -> UInt16 {
        UInt16(try u8()) << 8 | UInt16(try u8())
    }

    mutating func u32() throws(GossipDecodeError) -> UInt32 {
        var v: UInt32 = 0
        for _ in 0..<4 { v = v << 8 | UInt32(try u8()) }
        return v
    }

    mutating func u64() throws(GossipDecodeError) -> UInt64 {
        var v: UInt64 = 0
        for _ in 0..<8 { v = v << 8 | UInt64(try u8()) }
        return v
    }

    mutating func short(maxBytes: Int, allowEmpty: Bool) throws(GossipDecodeError) -> [UInt8] {
        let count = Int(try u8())
        guard count <= maxBytes, allowEmpty || count > 0 else { throw .emptyOrOversizedField }
        guard remaining >= count else { throw .truncated }
        defer { offset += count }
        return Array(bytes[offset..<offset + count])
    }

    mutating func string(maxBytes: Int) throws(GossipDecodeError) -> String {
        let raw = try short(maxBytes: maxBytes, allowEmpty: false)
        guard let s = String(validating: raw, as: UTF8.self) else { throw .invalidUTF8 }
        return s
    }

    mutating func id() throws(GossipDecodeError) -> MemberID {
        let name = try string(maxBytes: GossipLimits.maxNameBytes)
        let address = try string(maxBytes: GossipLimits.maxAddressBytes)
        return MemberID(name: name, address: address)
    }
}
