/// Base64 (RFC 4648 section 4) and base64url (section 5).
///
/// Decoding is strict, so that one value has one spelling (RFC 4648 3.5 lets decoders reject
/// non-canonical input): no whitespace, no characters outside the alphabet, padding exactly
/// where section 4 puts it, and the unused low bits of the last character must be zero.
public enum Base64 {
    private static let standard: [UInt8] =
        Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)
    private static let url: [UInt8] =
        Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".utf8)
    private static let invalid: UInt8 = 0xFF
    private static let standardValues = reverse(standard)
    private static let urlValues = reverse(url)

    /// Standard alphabet, padded with '=' to a multiple of 4 characters.
    public static func encode(_ bytes: [UInt8]) -> String {
        encode(bytes, alphabet: standard, pad: true)
    }

    /// Standard alphabet, padding required; nil on any malformed input.
    public static func decode(_ text: String) -> [UInt8]? {
        let chars = Array(text.utf8)
        guard chars.count % 4 == 0 else { return nil }
        var unpadded = chars.count
        if unpadded > 0, chars[unpadded - 1] == UInt8(ascii: "=") { unpadded -= 1 }
        if unpadded > 0, chars[unpadded - 1] == UInt8(ascii: "=") { unpadded -= 1 }
        return decode(chars[0..<unpadded], values: standardValues)
    }

    /// URL-safe alphabet ('-' and '_'), no padding (RFC 4648 section 5, as used by JWT).
    public static func encodeURL(_ bytes: [UInt8]) -> String {
        encode(bytes, alphabet: url, pad: false)
    }

    /// URL-safe alphabet without padding; '=' is rejected like any other foreign character.
    public static func decodeURL(_ text: String) -> [UInt8]? {
        let chars = Array(text.utf8)
        return decode(chars[...], values: urlValues)
    }

    private static func encode(_ bytes: [UInt8], alphabet: [UInt8], pad: Bool) -> String {
        var out: [UInt8] = []
        out.reserveCapacity((bytes.count + 2) / 3 * 4)
        var i = 0
        while i + 3 <= bytes.count {
            let n = UInt32(bytes[i]) << 16 | UInt32(bytes[i + 1]) << 8 | UInt32(bytes[i + 2])
            out.append(alphabet[Int(n >> 18 & 63)])
            out.append(alphabet[Int(n >> 12 & 63)])
            out.append(alphabet[Int(n >> 6 & 63)])
            out.append(alphabet[Int(n & 63)])
            i += 3
        }
        let rest = bytes.count - i
        if rest == 1 {
            let n = UInt32(bytes[i]) << 16
            out.append(alphabet[Int(n >> 18 & 63)])
            out.append(alphabet[Int(n >> 12 & 63)])
            if pad { out.append(UInt8(ascii: "=")); out.append(UInt8(ascii: "=")) }
        } else if rest == 2 {
            let n = UInt32(bytes[i]) << 16 | UInt32(bytes[i + 1]) << 8
            out.append(alphabet[Int(n >> 18 & 63)])
            out.append(alphabet[Int(n >> 12 & 63)])
            out.append(alphabet[Int(n >> 6 & 63)])
            if pad { out.append(UInt8(ascii: "=")) }
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Decodes unpadded characters; a remainder of 1 character mod 4 cannot encode a byte.
    private static func decode(_ chars: ArraySlice<UInt8>, values: [UInt8]) -> [UInt8]? {
        guard chars.count % 4 != 1 else { return nil }
        var out: [UInt8] = []
        out.reserveCapacity(chars.count / 4 * 3 + 2)
        var accumulator: UInt32 = 0
        var bits = 0
        for c in chars {
            let v = values[Int(c)]
            guard v != invalid else { return nil }
            accumulator = accumulator << 6 | UInt32(v)
            bits += 6
            if bits >= 8 {
                bits -= 8
                out.append(UInt8(truncatingIfNeeded: accumulator >> UInt32(bits)))
                accumulator &= (1 << UInt32(bits)) - 1
            }
        }
        // Leftover bits (2 or 4) are padding bits and must be zero for a canonical encoding.
        guard accumulator == 0 else { return nil }
        return out
    }

    private static func reverse(_ alphabet: [UInt8]) -> [UInt8] {
        var table = [UInt8](repeating: invalid, count: 256)
        for (index, c) in alphabet.enumerated() { table[Int(c)] = UInt8(index) }
        return table
    }
}
