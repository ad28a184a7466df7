/// Parsing entry points. Strict RFC 8259: exactly one value of any type with only whitespace
/// around it; no comments, trailing commas, NaN/Infinity, leading zeros or `+`; strings must
/// be valid UTF-8 without raw control characters; `\u` surrogates must pair. Duplicate keys:
/// the last value wins (kept where the key first appeared). Every input is bounded by `limits`.
extension JSON {
    public static func parse(_ bytes: [UInt8], limits: JSONLimits = .default) throws(JSONError) -> JSON {
        try parse(bytes[...], limits: limits)
    }

    /// Error offsets count from the start of the slice, not of its base array.
    public static func parse(_ bytes: ArraySlice<UInt8>, limits: JSONLimits = .default) throws(JSONError) -> JSON {
        let result = bytes.withUnsafeBufferPointer { buffer in
            parse(buffer: buffer, limits: limits)
        }
        return try result.get()
    }

    public static func parse(_ text: String, limits: JSONLimits = .default) throws(JSONError) -> JSON {
        if let result = text.utf8.withContiguousStorageIfAvailable({ buffer in
            parse(buffer: buffer, limits: limits)
        }) {
            return try result.get()
        }
        return try parse(Array(text.utf8), limits: limits)
    }

    private static func parse(buffer: UnsafeBufferPointer<UInt8>, limits: JSONLimits) -> Result<JSON, JSONError> {
        var parser = JSONParser(input: buffer, limits: limits)
        return Result { () throws(JSONError) -> JSON in try parser.parseDocument() }
    }
}
