/// Strings (RFC 8259 §7 and §8.1): UTF-8 validated byte by byte, escapes decoded, and a fast
/// path that builds the `String` straight from the input when there is no escape.
extension JSONParser {
    /// Parses the string whose opening quote is at `offset`; leaves `offset` after the closing
    /// quote.
    mutating func parseString() throws(JSONError) -> String {
        let start = offset
        offset += 1
        var runStart = offset
        var hasEscapes = false
        while offset < input.count {
            var byte = input[offset]
            // Fast scan over printable ASCII, the bulk of protocol text: `byte &- 0x20` wraps
            // for control bytes, so one comparison rejects both < 0x20 and >= 0x80.
            while byte &- ASCII.firstUnescapedByte < ASCII.firstNonASCIIByte - ASCII.firstUnescapedByte,
                byte != ASCII.quote, byte != ASCII.backslash
            {
                offset += 1
                guard offset < input.count else { throw endOfInput() }
                byte = input[offset]
            }
            if byte == ASCII.quote {
                let result: String
                if hasEscapes {
                    scratch.append(contentsOf: UnsafeBufferPointer(rebasing: input[runStart..<offset]))
                    try checkStringLength(scratch.count, start: start)
                    // Already validated: decoding repairs nothing.
                    result = String(decoding: scratch, as: UTF8.self)
                } else {
                    try checkStringLength(offset - runStart, start: start)
                    result = String(decoding: UnsafeBufferPointer(rebasing: input[runStart..<offset]), as: UTF8.self)
                }
                offset += 1
                return result
            } else if byte == ASCII.backslash {
                if !hasEscapes {
                    hasEscapes = true
                    scratch.removeAll(keepingCapacity: true)
                }
                scratch.append(contentsOf: UnsafeBufferPointer(rebasing: input[runStart..<offset]))
                try appendEscape()
                try checkStringLength(scratch.count, start: start)
                runStart = offset
            } else if byte < ASCII.firstUnescapedByte {
                throw JSONError(offset: offset, reason: JSONError.Reason.controlCharacter)
            } else if byte < ASCII.firstNonASCIIByte {
                offset += 1
            } else {
                try skipUTF8Sequence(lead: byte)
            }
        }
        throw endOfInput()
    }

    private func checkStringLength(_ byteCount: Int, start: Int) throws(JSONError) {
        guard byteCount <= limits.maxStringBytes else {
            throw JSONError(offset: start, reason: JSONError.Reason.stringTooLong)
        }
    }

    /// Accepts one well-formed multi-byte UTF-8 sequence starting at `offset` (Unicode 15
    /// Table 3-7: no overlong forms, no surrogates U+D800-DFFF, nothing above U+10FFFF).
    private mutating func skipUTF8Sequence(lead: UInt8) throws(JSONError) {
        let length: Int
        let secondLow: UInt8
        let secondHigh: UInt8
        switch lead {
        case 0xC2...0xDF: (length, secondLow, secondHigh) = (2, 0x80, 0xBF)
        case 0xE0: (length, secondLow, secondHigh) = (3, 0xA0, 0xBF)
        case 0xE1...0xEC, 0xEE...0xEF: (length, secondLow, secondHigh) = (3, 0x80, 0xBF)
        case 0xED: (length, secondLow, secondHigh) = (3, 0x80, 0x9F)
        case 0xF0: (length, secondLow, secondHigh) = (4, 0x90, 0xBF)
        case 0xF1...0xF3: (length, secondLow, secondHigh) = (4, 0x80, 0xBF)
        case 0xF4: (length, secondLow, secondHigh) = (4, 0x80, 0x8F)
        default: throw JSONError(offset: offset, reason: JSONError.Reason.invalidUTF8)
        }
        for index in 1..<length {
            let position = offset + index
            guard position < input.count else { throw endOfInput() }
            let byte = input[position]
            let low: UInt8 = index == 1 ? secondLow : 0x80
            let high: UInt8 = index == 1 ? secondHigh : 0xBF
            guard byte >= low, byte <= high else {
                throw JSONError(offset: position, reason: JSONError.Reason.invalidUTF8)
            }
        }
        offset += length
    }

    /// Decodes the escape whose backslash is at `offset` into `scratch` (RFC 8259 §7).
    private mutating func appendEscape() throws(JSONError) {
        let escapeStart = offset
        guard offset + 1 < input.count else { throw endOfInput() }
        let code = input[offset + 1]
        offset += 2
        switch code {
        case ASCII.quote, ASCII.backslash, ASCII.slash: scratch.append(code)
        case ASCII.lowerB: scratch.append(0x08)
        case ASCII.lowerF: scratch.append(0x0C)
        case ASCII.lowerN: scratch.append(ASCII.lineFeed)
        case ASCII.lowerR: scratch.append(ASCII.carriageReturn)
        case ASCII.lowerT: scratch.append(ASCII.tab)
        case ASCII.lowerU:
            let first = try readHex4()
            let scalar: UInt32
            switch first {
            case 0xD800...0xDBFF:
                // A character outside the BMP is written as a surrogate pair of escapes; a high
                // surrogate must be followed at once by `\u` and a low one.
                guard offset < input.count else { throw endOfInput() }
                guard input[offset] == ASCII.backslash else {
                    throw JSONError(offset: escapeStart, reason: JSONError.Reason.loneSurrogate)
                }
                guard offset + 1 < input.count else { throw endOfInput() }
                guard input[offset + 1] == ASCII.lowerU else {
                    throw JSONError(offset: escapeStart, reason: JSONError.Reason.loneSurrogate)
                }
                offset += 2
                let second = try readHex4()
                guard (0xDC00...0xDFFF).contains(second) else {
                    throw JSONError(offset: escapeStart, reason: JSONError.Reason.loneSurrogate)
                }
                scalar = 0x10000 + ((first - 0xD800) << 10) + (second - 0xDC00)
            case 0xDC00...0xDFFF:
                throw JSONError(offset: escapeStart, reason: JSONError.Reason.loneSurrogate)
            default:
                scalar = first
            }
            appendUTF8(scalar)
        default:
            throw JSONError(offset: escapeStart, reason: JSONError.Reason.invalidEscape)
        }
    }

    /// Four hex digits at `offset`, as a code unit.
    private mutating func readHex4() throws(JSONError) -> UInt32 {
        var value: UInt32 = 0
        for _ in 0..<4 {
            guard offset < input.count else { throw endOfInput() }
            guard let digit = ASCII.hexValue(input[offset]) else {
                throw JSONError(offset: offset, reason: JSONError.Reason.invalidUnicodeEscape)
            }
            value = value << 4 | digit
            offset += 1
        }
        return value
    }

    /// Encodes a scalar value (never a surrogate, at most U+10FFFF) as UTF-8.
    private mutating func appendUTF8(_ scalar: UInt32) {
        switch scalar {
        case 0..<0x80:
            scratch.append(UInt8(scalar))
        case 0x80..<0x800:
            scratch.append(UInt8(0xC0 | scalar >> 6))
            scratch.append(UInt8(0x80 | scalar & 0x3F))
        case 0x800..<0x10000:
            scratch.append(UInt8(0xE0 | scalar >> 12))
            scratch.append(UInt8(0x80 | scalar >> 6 & 0x3F))
            scratch.append(UInt8(0x80 | scalar & 0x3F))
        default:
            scratch.append(UInt8(0xF0 | scalar >> 18 & 0x07))
            scratch.append(UInt8(0x80 | scalar >> 12 & 0x3F))
            scratch.append(UInt8(0x80 | scalar >> 6 & 0x3F))
            scratch.append(UInt8(0x80 | scalar & 0x3F))
        }
    }
}
