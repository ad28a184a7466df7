/// Percent-decoding (RFC 3986 section 2.1) into a UTF-8 string.
enum PercentDecoding {
    /// nil on a '%' not followed by two hex digits or on decoded bytes that are not UTF-8.
    /// `plusAsSpace` is the application/x-www-form-urlencoded rule, for query strings only.
    static func decode(_ raw: ArraySlice<UInt8>, plusAsSpace: Bool) -> String? {
        var out: [UInt8] = []
        out.reserveCapacity(raw.count)
        var i = raw.startIndex
        while i < raw.endIndex {
            let c = raw[i]
            if c == UInt8(ascii: "%") {
                guard i + 2 < raw.endIndex,
                      let high = hexValue(raw[i + 1]), let low = hexValue(raw[i + 2])
                else { return nil }
                out.append(high << 4 | low)
                i += 3
            } else {
                out.append(plusAsSpace && c == UInt8(ascii: "+") ? UInt8(ascii: " ") : c)
                i += 1
            }
        }
        return UTF8Validation.string(out)
    }

    private static func hexValue(_ c: UInt8) -> UInt8? {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return c - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return c - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return c - UInt8(ascii: "A") + 10
        default: return nil
        }
    }
}
