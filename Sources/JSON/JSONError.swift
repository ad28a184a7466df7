/// Why a document was rejected, and where: `offset` is the byte offset (from the start of the
/// input given to `parse`) of the byte that could not be accepted, or the input's length when
/// it ended too early.
public struct JSONError: Error, Equatable, CustomStringConvertible, Sendable {
    public let offset: Int
    public let reason: String

    public init(offset: Int, reason: String) {
        self.offset = offset
        self.reason = reason
    }

    public var description: String { "invalid JSON at byte \(offset): \(reason)" }
}

/// The reasons the parser gives, one per rule, so callers and tests can tell them apart.
extension JSONError {
    public enum Reason {
        public static let unexpectedEnd = "unexpected end of input"
        public static let unexpectedCharacter = "unexpected character"
        public static let trailingCharacters = "trailing characters after the value"
        public static let tooDeep = "nesting too deep"
        public static let tooLarge = "input too large"
        public static let tooManyValues = "too many values"
        public static let stringTooLong = "string too long"
        public static let invalidLiteral = "invalid literal"
        public static let expectedCommaOrBracket = "expected ',' or ']'"
        public static let expectedCommaOrBrace = "expected ',' or '}'"
        public static let expectedKey = "expected a string key"
        public static let expectedColon = "expected ':'"
        public static let leadingZero = "leading zeros are not allowed"
        public static let expectedDigit = "expected a digit"
        public static let numberOutOfRange = "number out of range"
        public static let controlCharacter = "unescaped control character in string"
        public static let invalidUTF8 = "invalid UTF-8"
        public static let invalidEscape = "invalid escape"
        public static let invalidUnicodeEscape = "invalid \\u escape"
        public static let loneSurrogate = "lone surrogate"
    }
}
