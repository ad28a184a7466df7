import HTTPWire
import XCTest

final class ByteRangeTests: XCTestCase {
    func testNoHeaderIsTheWholeBody() {
        XCTAssertEqual(ByteRange.parse(nil, size: 100), .whole)
    }

    func testClosedOpenAndSuffixRanges() {
        XCTAssertEqual(ByteRange.parse("bytes=0-9", size: 100), .part(first: 0, last: 9))
        XCTAssertEqual(ByteRange.parse("bytes=90-", size: 100), .part(first: 90, last: 99))
        XCTAssertEqual(ByteRange.parse("bytes=-10", size: 100), .part(first: 90, last: 99))
        XCTAssertEqual(ByteRange.parse("bytes=-1000", size: 100), .part(first: 0, last: 99))
        XCTAssertEqual(ByteRange.parse("bytes=50-1000", size: 100), .part(first: 50, last: 99))
        XCTAssertEqual(ByteRange.parse("bytes=99-99", size: 100), .part(first: 99, last: 99))
    }

    func testRangesPastTheEndAreUnsatisfiable() {
        XCTAssertEqual(ByteRange.parse("bytes=100-", size: 100), .unsatisfiable)
        XCTAssertEqual(ByteRange.parse("bytes=200-300", size: 100), .unsatisfiable)
        XCTAssertEqual(ByteRange.parse("bytes=-0", size: 100), .unsatisfiable)
        XCTAssertEqual(ByteRange.parse("bytes=99999999999999999999999-", size: 100), .unsatisfiable)
    }

    func testListsOtherUnitsAndGarbageAreIgnored() {
        XCTAssertEqual(ByteRange.parse("bytes=0-1,5-6", size: 100), .whole)
        XCTAssertEqual(ByteRange.parse("items=0-1", size: 100), .whole)
        XCTAssertEqual(ByteRange.parse("bytes=9-1", size: 100), .whole)
        XCTAssertEqual(ByteRange.parse("bytes=a-b", size: 100), .whole)
        XCTAssertEqual(ByteRange.parse("bytes=-", size: 100), .whole)
    }

    func testIfNoneMatch() {
        XCTAssertTrue(ifNoneMatchMatches("\"abc\"", etag: "\"abc\""))
        XCTAssertTrue(ifNoneMatchMatches("\"x\", W/\"abc\"", etag: "\"abc\""))
        XCTAssertTrue(ifNoneMatchMatches("*", etag: "\"abc\""))
        XCTAssertFalse(ifNoneMatchMatches("\"abd\"", etag: "\"abc\""))
        XCTAssertFalse(ifNoneMatchMatches(nil, etag: "\"abc\""))
    }
}
