import JSON
import XCTest

/// Every rule of RFC 8259 the parser enforces, each with the exact error it must give.
final class JSONRejectionTests: XCTestCase {
    typealias Reason = JSONError.Reason

    func testEmptyOrBlankInputIsUnexpectedEnd() {
        assertRejects("", offset: 0, reason: Reason.unexpectedEnd)
        assertRejects(" \n\t ", offset: 4, reason: Reason.unexpectedEnd)
    }

    func testTruncatedDocumentsAreUnexpectedEnd() {
        assertRejects("[1,", offset: 3, reason: Reason.unexpectedEnd)
        assertRejects("[1", offset: 2, reason: Reason.unexpectedEnd)
        assertRejects("{\"a\"", offset: 4, reason: Reason.unexpectedEnd)
        assertRejects("{\"a\":", offset: 5, reason: Reason.unexpectedEnd)
        assertRejects("{", offset: 1, reason: Reason.unexpectedEnd)
        assertRejects("tru", offset: 3, reason: Reason.unexpectedEnd)
        assertRejects("\"abc", offset: 4, reason: Reason.unexpectedEnd)
    }

    /// RFC 8259 §2: exactly one value.
    func testMoreThanOneTopLevelValueIsRejected() {
        assertRejects("1 2", offset: 2, reason: Reason.trailingCharacters)
        assertRejects("{}{}", offset: 2, reason: Reason.trailingCharacters)
        assertRejects("\"a\"\"b\"", offset: 3, reason: Reason.trailingCharacters)
        assertRejects("0x10", offset: 1, reason: Reason.trailingCharacters)
    }

    func testTrailingCommasAreRejected() {
        assertRejects("[1,]", offset: 3, reason: Reason.unexpectedCharacter)
        assertRejects("{\"a\":1,}", offset: 7, reason: Reason.expectedKey)
        assertRejects("[,1]", offset: 1, reason: Reason.unexpectedCharacter)
    }

    func testMissingSeparatorsAreRejected() {
        assertRejects("[1 2]", offset: 3, reason: Reason.expectedCommaOrBracket)
        assertRejects("[true false]", offset: 6, reason: Reason.expectedCommaOrBracket)
        assertRejects("{\"a\" 1}", offset: 5, reason: Reason.expectedColon)
        assertRejects("{\"a\":1 \"b\":2}", offset: 7, reason: Reason.expectedCommaOrBrace)
        assertRejects("[1}", offset: 2, reason: Reason.expectedCommaOrBracket)
        assertRejects("{\"a\":1]", offset: 6, reason: Reason.expectedCommaOrBrace)
    }

    func testObjectKeysMustBeStrings() {
        assertRejects("{1:2}", offset: 1, reason: Reason.expectedKey)
        assertRejects("{a:2}", offset: 1, reason: Reason.expectedKey)
        assertRejects("{'a':2}", offset: 1, reason: Reason.expectedKey)
    }

    func testCommentsAreRejected() {
        assertRejects("[1]// c", offset: 3, reason: Reason.trailingCharacters)
        assertRejects("/* c */ 1", offset: 0, reason: Reason.unexpectedCharacter)
        assertRejects("[1 /* x */]", offset: 3, reason: Reason.expectedCommaOrBracket)
    }

    /// RFC 8259 §6: "Numeric values that cannot be represented ... (such as Infinity and NaN)
    /// are not permitted."
    func testNaNAndInfinityAreRejected() {
        assertRejects("NaN", offset: 0, reason: Reason.unexpectedCharacter)
        assertRejects("Infinity", offset: 0, reason: Reason.unexpectedCharacter)
        assertRejects("-Infinity", offset: 1, reason: Reason.expectedDigit)
        assertRejects("nan", offset: 1, reason: Reason.invalidLiteral)
        assertRejects("1e400", offset: 0, reason: Reason.numberOutOfRange)
        assertRejects("-1.5e99999999999", offset: 0, reason: Reason.numberOutOfRange)
    }

    /// RFC 8259 §6: "Leading zeros are not allowed."
    func testLeadingZerosAreRejected() {
        assertRejects("01", offset: 1, reason: Reason.leadingZero)
        assertRejects("-01", offset: 2, reason: Reason.leadingZero)
        assertRejects("00.5", offset: 1, reason: Reason.leadingZero)
        assertRejects("[007]", offset: 2, reason: Reason.leadingZero)
    }

    /// RFC 8259 §6: only a minus sign may precede the integer part.
    func testLeadingPlusIsRejected() {
        assertRejects("+1", offset: 0, reason: Reason.unexpectedCharacter)
        assertRejects("[+0]", offset: 1, reason: Reason.unexpectedCharacter)
    }

    func testMalformedNumbersAreRejected() {
        assertRejects("-", offset: 1, reason: Reason.unexpectedEnd)
        assertRejects("-a", offset: 1, reason: Reason.expectedDigit)
        assertRejects("1.", offset: 2, reason: Reason.unexpectedEnd)
        assertRejects("1.e5", offset: 2, reason: Reason.expectedDigit)
        assertRejects(".5", offset: 0, reason: Reason.unexpectedCharacter)
        assertRejects("1e", offset: 2, reason: Reason.unexpectedEnd)
        assertRejects("1e+", offset: 3, reason: Reason.unexpectedEnd)
        assertRejects("1ea", offset: 2, reason: Reason.expectedDigit)
        assertRejects("[1.]", offset: 3, reason: Reason.expectedDigit)
    }

    func testMisspelledLiteralsAreRejected() {
        assertRejects("trUe", offset: 2, reason: Reason.invalidLiteral)
        assertRejects("True", offset: 0, reason: Reason.unexpectedCharacter)
        assertRejects("nul", offset: 3, reason: Reason.unexpectedEnd)
        assertRejects("fals e", offset: 4, reason: Reason.invalidLiteral)
        assertRejects("nullx", offset: 4, reason: Reason.trailingCharacters)
    }

    /// RFC 8259 §7: "characters that MUST be escaped: ... the control characters (U+0000
    /// through U+001F)."
    func testUnescapedControlCharactersInStringsAreRejected() {
        assertRejects([0x22, 0x61, 0x01, 0x22], offset: 2, reason: Reason.controlCharacter)
        assertRejects("\"a\tb\"", offset: 2, reason: Reason.controlCharacter)
        assertRejects("\"line\nbreak\"", offset: 5, reason: Reason.controlCharacter)
        assertRejects([0x22, 0x00, 0x22], offset: 1, reason: Reason.controlCharacter)
        assertRejects("{\"k\u{1F}\":1}", offset: 3, reason: Reason.controlCharacter)
    }

    func testUnknownEscapesAreRejected() {
        assertRejects(#""\x""#, offset: 1, reason: Reason.invalidEscape)
        assertRejects(#""\'""#, offset: 1, reason: Reason.invalidEscape)
        assertRejects(#""ab\U0041""#, offset: 3, reason: Reason.invalidEscape)
        assertRejects(#""\"#, offset: 2, reason: Reason.unexpectedEnd)
    }

    func testMalformedUnicodeEscapesAreRejected() {
        assertRejects(#""\u12""#, offset: 5, reason: Reason.invalidUnicodeEscape)
        assertRejects(#""\u12G4""#, offset: 5, reason: Reason.invalidUnicodeEscape)
        assertRejects(#""\u00"#, offset: 5, reason: Reason.unexpectedEnd)
    }

    /// RFC 8259 §8.2: a lone surrogate escape would produce text that is not Unicode.
    func testLoneSurrogateEscapesAreRejected() {
        assertRejects(#""\uD800""#, offset: 1, reason: Reason.loneSurrogate)
        assertRejects(#""\uDC00""#, offset: 1, reason: Reason.loneSurrogate)
        assertRejects(#""\uD800\u0041""#, offset: 1, reason: Reason.loneSurrogate)
        assertRejects(#""\uD800\uD800""#, offset: 1, reason: Reason.loneSurrogate)
        assertRejects(#""\uD800x""#, offset: 1, reason: Reason.loneSurrogate)
        assertRejects(#""\uD800\n""#, offset: 1, reason: Reason.loneSurrogate)
        assertRejects(#""ok\uDFFF\uD800""#, offset: 3, reason: Reason.loneSurrogate)
        assertRejects(#""\uD800"#, offset: 7, reason: Reason.unexpectedEnd)
    }

    /// RFC 8259 §8.1: text MUST be UTF-8; Unicode Table 3-7 defines well-formed sequences.
    func testInvalidUTF8InStringsIsRejected() {
        let quote: UInt8 = 0x22
        assertRejects([quote, 0xFF, quote], offset: 1, reason: Reason.invalidUTF8)
        assertRejects([quote, 0x80, quote], offset: 1, reason: Reason.invalidUTF8)  // lone continuation
        assertRejects([quote, 0xC0, 0xAF, quote], offset: 1, reason: Reason.invalidUTF8)  // overlong "/"
        assertRejects([quote, 0xE0, 0x80, 0xAF, quote], offset: 2, reason: Reason.invalidUTF8)  // overlong
        assertRejects([quote, 0xED, 0xA0, 0x80, quote], offset: 2, reason: Reason.invalidUTF8)  // U+D800
        assertRejects([quote, 0xF4, 0x90, 0x80, 0x80, quote], offset: 2, reason: Reason.invalidUTF8)  // > U+10FFFF
        assertRejects([quote, 0xF5, 0x80, 0x80, 0x80, quote], offset: 1, reason: Reason.invalidUTF8)
        assertRejects([quote, 0xE4, 0xB8, quote], offset: 3, reason: Reason.invalidUTF8)  // truncated
        assertRejects([quote, 0xF0, 0x9F, 0x8E], offset: 4, reason: Reason.unexpectedEnd)
    }

    func testBytesOutsideTheGrammarAreRejected() {
        // RFC 8259 §8.1 forbids a byte order mark; this parser does not skip one.
        assertRejects([0xEF, 0xBB, 0xBF, 0x31], offset: 0, reason: Reason.unexpectedCharacter)
        assertRejects([0x5B, 0xC3, 0xA9, 0x5D], offset: 1, reason: Reason.unexpectedCharacter)
        assertRejects("[1]\u{0}", offset: 3, reason: Reason.trailingCharacters)
        assertRejects("\u{0C}1", offset: 0, reason: Reason.unexpectedCharacter)  // form feed is not ws
    }
}
