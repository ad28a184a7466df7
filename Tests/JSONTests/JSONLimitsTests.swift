import JSON
import XCTest

final class JSONLimitsTests: XCTestCase {
    typealias Reason = JSONError.Reason

    func testDefaultLimitsAreTheDocumentedValues() {
        let limits = JSONLimits.default
        XCTAssertEqual(limits.maxDepth, 64)
        XCTAssertEqual(limits.maxBytes, 1_048_576)
        XCTAssertEqual(limits.maxStringBytes, 1_048_576)
        XCTAssertEqual(limits.maxMembers, 100_000)
    }

    func testHundredThousandOpenBracketsAreRejectedAtTheDepthLimit() {
        let bytes = [UInt8](repeating: 0x5B, count: 100_000)
        assertRejects(bytes, offset: 64, reason: Reason.tooDeep)
    }

    func testHundredThousandNestedObjectsAreRejectedAtTheDepthLimit() {
        let text = String(repeating: "{\"a\":", count: 100_000)
        assertRejects(text, offset: 64 * 5, reason: Reason.tooDeep)
    }

    func testNestingUpToMaxDepthIsAcceptedAndOneMoreIsNot() throws {
        let deepest = String(repeating: "[", count: 64) + String(repeating: "]", count: 64)
        XCTAssertNoThrow(try JSON.parse(deepest))
        let tooDeep = String(repeating: "[", count: 65) + String(repeating: "]", count: 65)
        assertRejects(tooDeep, offset: 64, reason: Reason.tooDeep)
        let limits = JSONLimits(maxDepth: 2, maxBytes: 100, maxStringBytes: 100, maxMembers: 100)
        XCTAssertEqual(try JSON.parse("[{\"a\":1}]", limits: limits), [["a": 1]])
        assertRejects("[{\"a\":[]}]", offset: 6, reason: Reason.tooDeep, limits: limits)
    }

    /// The parser keeps its own stack, so a raised limit needs no deeper call stack; the
    /// serializer is iterative too.
    func testTenThousandLevelsParseAndSerializeWhenAllowed() throws {
        let depth = 10_000
        let text = String(repeating: "[", count: depth) + String(repeating: "]", count: depth)
        let limits = JSONLimits(maxDepth: depth, maxBytes: 1 << 20, maxStringBytes: 16, maxMembers: depth)
        let value = try JSON.parse(text, limits: limits)
        XCTAssertEqual(value.serialized(), text)
    }

    func testInputLongerThanMaxBytesIsRejectedBeforeParsing() {
        let limits = JSONLimits(maxDepth: 8, maxBytes: 10, maxStringBytes: 100, maxMembers: 100)
        XCTAssertEqual(try JSON.parse("\"12345678\"", limits: limits), "12345678")
        assertRejects("\"123456789\"", offset: 10, reason: Reason.tooLarge, limits: limits)
        let overDefault = [UInt8](repeating: 0x20, count: (1 << 20) + 1)
        assertRejects(overDefault, offset: 1 << 20, reason: Reason.tooLarge)
    }

    func testStringsLongerThanMaxStringBytesAreRejected() {
        let limits = JSONLimits(maxDepth: 8, maxBytes: 100, maxStringBytes: 3, maxMembers: 100)
        XCTAssertEqual(try JSON.parse("\"abc\"", limits: limits), "abc")
        XCTAssertEqual(try JSON.parse("\"\\n\\n\\n\"", limits: limits), "\n\n\n")
        XCTAssertEqual(try JSON.parse("\"é.\"", limits: limits), "é.")
        assertRejects("\"abcd\"", offset: 0, reason: Reason.stringTooLong, limits: limits)
        assertRejects("\"\\n\\n\\n\\n\"", offset: 0, reason: Reason.stringTooLong, limits: limits)
        assertRejects("\"éé\"", offset: 0, reason: Reason.stringTooLong, limits: limits)
        assertRejects("[\"ab\\u00e9\"]", offset: 1, reason: Reason.stringTooLong, limits: limits)
        assertRejects("{\"abcd\":1}", offset: 1, reason: Reason.stringTooLong, limits: limits)
    }

    func testDocumentsWithMoreThanMaxMembersValuesAreRejected() {
        let limits = JSONLimits(maxDepth: 8, maxBytes: 100, maxStringBytes: 100, maxMembers: 3)
        XCTAssertEqual(try JSON.parse("[1,2]", limits: limits), [1, 2])
        XCTAssertEqual(try JSON.parse("{\"a\":1,\"b\":2}", limits: limits), ["a": 1, "b": 2])
        assertRejects("[1,2,3]", offset: 5, reason: Reason.tooManyValues, limits: limits)
        assertRejects("[[],[],[]]", offset: 7, reason: Reason.tooManyValues, limits: limits)

        // Default: an array of 100,001 zeros holds 100,002 values.
        let many = "[" + String(repeating: "0,", count: 100_000) + "0]"
        assertRejects(many, offset: 1 + 2 * 99_999, reason: Reason.tooManyValues)
    }

    func testVeryLongNumbersAreBoundedAndCorrect() throws {
        // 500,000 significant digits: still within maxBytes, must convert without trouble.
        let digits = "1" + String(repeating: "0", count: 299) + "." + String(repeating: "7", count: 500_000)
        XCTAssertEqual(try JSON.parse(digits), .double(1e299))
        assertRejects("1" + String(repeating: "0", count: 400), offset: 0, reason: Reason.numberOutOfRange)
    }
}
