/// Numbers (RFC 8259 §6): `[ minus ] int [ frac ] [ exp ]`, `int = zero / ( digit1-9 *DIGIT )`.
///
/// A number without fraction or exponent that fits `Int64` becomes `.int`. Every other number
/// becomes `.double`, correctly rounded: exactly representable cases take Clinger's fast path
/// (one IEEE multiply or divide of exact operands), the rest go to the standard library's
/// decimal conversion. A number too large for `Double` is rejected (RFC 8259 §6 lets an
/// implementation limit the range) because it could not be written back out.
extension JSONParser {
    /// Largest integer every smaller one of which a `Double` holds exactly (2^53).
    private static let maxExactMantissa: UInt64 = 1 << 53
    /// Exact powers of ten as `Double`: 10^22 is the largest one a `Double` holds exactly.
    private static let exactPowersOfTen: [Double] = [
        1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11,
        1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
    ]
    /// Decimal digits that always fit a `UInt64` (10^19 - 1 < 2^64).
    private static let maxUInt64Digits = 19
    /// Exponent digits are read up to this magnitude and then saturate: any larger exponent
    /// already means overflow or zero, and saturating keeps the arithmetic in range.
    private static let exponentSaturation = 1_000_000

    mutating func parseNumber() throws(JSONError) -> JSON {
        let start = offset
        let negative = input[offset] == ASCII.minus
        if negative { offset += 1 }

        guard offset < input.count else { throw endOfInput() }
        let integerStart = offset
        if input[offset] == ASCII.zero {
            offset += 1
            if offset < input.count, ASCII.isDigit(input[offset]) {
                throw JSONError(offset: offset, reason: JSONError.Reason.leadingZero)
            }
        } else {
            try requireDigit()
            skipDigits()
        }
        let integerEnd = offset

        var fractionEnd = offset
        var isInteger = true
        if offset < input.count, input[offset] == ASCII.dot {
            isInteger = false
            offset += 1
            try requireDigit()
            skipDigits()
            fractionEnd = offset
        }

        var exponent = 0
        if offset < input.count, input[offset] == ASCII.lowerE || input[offset] == ASCII.upperE {
            isInteger = false
            offset += 1
            var exponentNegative = false
            if offset < input.count, input[offset] == ASCII.minus || input[offset] == ASCII.plus {
                exponentNegative = input[offset] == ASCII.minus
                offset += 1
            }
            try requireDigit()
            while offset < input.count, ASCII.isDigit(input[offset]) {
                if exponent < Self.exponentSaturation {
                    exponent = exponent * 10 + Int(input[offset] - ASCII.zero)
                }
                offset += 1
            }
            if exponentNegative { exponent = -exponent }
        }

        if isInteger, let value = integerValue(negative: negative, digits: integerStart..<integerEnd) {
            return .int(value)
        }
        if let value = exactDouble(
            negative: negative, integerDigits: integerStart..<integerEnd,
            fractionDigits: integerEnd..<fractionEnd, exponent: exponent)
        {
            return .double(value)
        }
        return .double(try convertedDouble(start..<offset))
    }

    private func requireDigit() throws(JSONError) {
        guard offset < input.count else { throw endOfInput() }
        guard ASCII.isDigit(input[offset]) else {
            throw JSONError(offset: offset, reason: JSONError.Reason.expectedDigit)
        }
    }

    private mutating func skipDigits() {
        while offset < input.count, ASCII.isDigit(input[offset]) { offset += 1 }
    }

    /// The integer, or nil when it does not fit `Int64`.
    private func integerValue(negative: Bool, digits: Range<Int>) -> Int64? {
        guard digits.count <= Self.maxUInt64Digits else { return nil }
        var magnitude: UInt64 = 0
        for position in digits { magnitude = magnitude * 10 + UInt64(input[position] - ASCII.zero) }
        if negative {
            guard magnitude <= UInt64(Int64.max) + 1 else { return nil }
            return Int64(truncatingIfNeeded: 0 &- magnitude)
        }
        guard magnitude <= UInt64(Int64.max) else { return nil }
        return Int64(magnitude)
    }

    /// Clinger's fast path: when the decimal significand is at most 2^53 and the power of ten
    /// is exact, one correctly rounded IEEE operation gives the correctly rounded result.
    /// `fractionDigits` includes the leading dot, when there is one.
    private func exactDouble(
        negative: Bool, integerDigits: Range<Int>, fractionDigits: Range<Int>, exponent: Int
    ) -> Double? {
        var significand: UInt64 = 0
        var significantDigits = 0
        var fractionDigitCount = 0
        for position in integerDigits.lowerBound..<fractionDigits.upperBound {
            let byte = input[position]
            guard byte != ASCII.dot else { continue }
            if position >= fractionDigits.lowerBound { fractionDigitCount += 1 }
            if significand == 0, byte == ASCII.zero { continue }
            significantDigits += 1
            guard significantDigits <= Self.maxUInt64Digits else { return nil }
            significand = significand * 10 + UInt64(byte - ASCII.zero)
        }
        if significand == 0 { return negative ? -0.0 : 0.0 }
        let powerOfTen = exponent - fractionDigitCount
        guard significand <= Self.maxExactMantissa,
            abs(powerOfTen) < Self.exactPowersOfTen.count
        else { return nil }
        var value = Double(significand)
        if powerOfTen < 0 {
            value /= Self.exactPowersOfTen[-powerOfTen]
        } else {
            value *= Self.exactPowersOfTen[powerOfTen]
        }
        return negative ? -value : value
    }

    /// The standard library's correctly rounded decimal conversion, for the remaining cases.
    private func convertedDouble(_ range: Range<Int>) throws(JSONError) -> Double {
        let text = String(decoding: UnsafeBufferPointer(rebasing: input[range]), as: UTF8.self)
        guard let value = Double(text), value.isFinite else {
            throw JSONError(offset: range.lowerBound, reason: JSONError.Reason.numberOutOfRange)
        }
        return value
    }
}
