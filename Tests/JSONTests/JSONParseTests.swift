import JSON
import XCTest

final class JSONParseTests: XCTestCase {
    /// RFC 8259 §13, first example.
    func testRFC8259ImageObjectExample() throws {
        let text = """
            {
              "Image": {
                  "Width":  800,
                  "Height": 600,
                  "Title":  "View from 15th Floor",
                  "Thumbnail": {
                      "Url":    "http://www.example.com/image/481989943",
                      "Height": 125,
                      "Width":  100
                  },
                  "Animated" : false,
                  "IDs": [116, 943, 234, 38793]
                }
            }
            """
        let value = try JSON.parse(text)
        let image = try XCTUnwrap(value["Image"])
        XCTAssertEqual(image["Width"], .int(800))
        XCTAssertEqual(image["Height"], .int(600))
        XCTAssertEqual(image["Title"]?.stringValue, "View from 15th Floor")
        XCTAssertEqual(image["Thumbnail"]?["Url"], "http://www.example.com/image/481989943")
        XCTAssertEqual(image["Thumbnail"]?["Height"]?.intValue, 125)
        XCTAssertEqual(image["Animated"]?.boolValue, false)
        XCTAssertEqual(image["IDs"], [116, 943, 234, 38793])
        XCTAssertEqual(image.objectValue?.keys, ["Width", "Height", "Title", "Thumbnail", "Animated", "IDs"])
    }

    /// RFC 8259 §13, second example.
    func testRFC8259ArrayOfPlacesExample() throws {
        let text = """
            [
              {
                 "precision": "zip",
                 "Latitude":  37.7668,
                 "Longitude": -122.3959,
                 "Address":   "",
                 "City":      "SAN FRANCISCO",
                 "State":     "CA",
                 "Zip":       "94107",
                 "Country":   "US"
              },
              {
                 "precision": "zip",
                 "Latitude":  37.371991,
                 "Longitude": -122.026020,
                 "Address":   "",
                 "City":      "SUNNYVALE",
                 "State":     "CA",
                 "Zip":       "94085",
                 "Country":   "US"
              }
            ]
            """
        let places = try XCTUnwrap(JSON.parse(text).arrayValue)
        XCTAssertEqual(places.count, 2)
        XCTAssertEqual(places[0]["Latitude"], .double(37.7668))
        XCTAssertEqual(places[0]["Longitude"], .double(-122.3959))
        XCTAssertEqual(places[0]["Address"], "")
        XCTAssertEqual(places[1]["City"], "SUNNYVALE")
        XCTAssertEqual(places[1]["Longitude"]?.doubleValue, -122.02602)
        XCTAssertEqual(places[1]["Zip"], "94085")
    }

    /// RFC 8259 §13: "Here are three small JSON texts containing only values".
    func testRFC8259ScalarTopLevelExamples() throws {
        XCTAssertEqual(try JSON.parse("\"Hello world!\""), "Hello world!")
        XCTAssertEqual(try JSON.parse("42"), .int(42))
        XCTAssertEqual(try JSON.parse("true"), .bool(true))
        XCTAssertEqual(try JSON.parse("false"), .bool(false))
        XCTAssertEqual(try JSON.parse("null"), .null)
    }

    func testWhitespaceAroundAndInsideIsAllowed() throws {
        XCTAssertEqual(try JSON.parse(" \t\r\n[ 1 , { \"a\" : null } ]\n "), [1, ["a": nil]])
        XCTAssertEqual(try JSON.parse("{}"), .object(JSONObject()))
        XCTAssertEqual(try JSON.parse("[ ]"), [])
        XCTAssertEqual(try JSON.parse("[[[]]]"), [[[]]])
    }

    func testNumbersWithoutFractionOrExponentAreIntegers() throws {
        XCTAssertEqual(try JSON.parse("0"), .int(0))
        XCTAssertEqual(try JSON.parse("-0"), .int(0))
        XCTAssertEqual(try JSON.parse("1763700000000"), .int(1_763_700_000_000))
        XCTAssertEqual(try JSON.parse("9223372036854775807"), .int(Int64.max))
        XCTAssertEqual(try JSON.parse("-9223372036854775808"), .int(Int64.min))
    }

    func testIntegersThatOverflowInt64BecomeDoubles() throws {
        XCTAssertEqual(try JSON.parse("9223372036854775808"), .double(0x1p63))
        XCTAssertEqual(try JSON.parse("-9223372036854775809"), .double(-0x1p63))
        XCTAssertEqual(try JSON.parse("123456789012345678901234567890"), .double(1.2345678901234568e29))
    }

    func testNumbersWithFractionOrExponentAreDoubles() throws {
        XCTAssertEqual(try JSON.parse("1.0"), .double(1))
        XCTAssertEqual(try JSON.parse("1e2"), .double(100))
        XCTAssertEqual(try JSON.parse("1E+2"), .double(100))
        XCTAssertEqual(try JSON.parse("-1.5e-3"), .double(-0.0015))
        XCTAssertEqual(try JSON.parse("0.1"), .double(0.1))
        XCTAssertEqual(try JSON.parse("-0.0").doubleValue?.sign, .minus)
        XCTAssertEqual(try JSON.parse("0e99999999999999999999"), .double(0))
        XCTAssertEqual(try JSON.parse("1e-400"), .double(0))
    }

    func testDoublesAreCorrectlyRoundedOnBothPaths() throws {
        // Clinger's fast path and the library fallback must agree with Swift's own parser.
        let samples = [
            "3.141592653589793", "2.2250738585072014e-308", "4.9e-324", "1.7976931348623157e308",
            "0.30000000000000004", "123456.789e3", "9007199254740993.0", "1e23", "8.41e21",
            "5e-324", "0.000001", "1234567890123456789.5",
        ]
        for sample in samples {
            XCTAssertEqual(try JSON.parse(sample), .double(try XCTUnwrap(Double(sample))), sample)
        }
    }

    func testNumericAccessorsConvertBetweenIntAndDouble() {
        XCTAssertEqual(JSON.double(3).intValue, 3)
        XCTAssertNil(JSON.double(3.5).intValue)
        XCTAssertNil(JSON.double(1e19).intValue)
        XCTAssertEqual(JSON.int(7).doubleValue, 7)
        XCTAssertNil(JSON.string("7").intValue)
        XCTAssertNotEqual(JSON.int(1), JSON.double(1))
    }

    func testAccessorsAnswerNilForOtherCases() {
        let value: JSON = ["a": [1, "x"]]
        XCTAssertNil(value.stringValue)
        XCTAssertNil(value.arrayValue)
        XCTAssertNil(value.boolValue)
        XCTAssertFalse(value.isNull)
        XCTAssertTrue(JSON.null.isNull)
        XCTAssertNil(value["missing"])
        XCTAssertNil(JSON.string("a")["a"])
        XCTAssertEqual(value["a"]?[1], "x")
        XCTAssertNil(value["a"]?[2])
        XCTAssertNil(value["a"]?[-1])
    }

    func testSimpleEscapesDecode() throws {
        let value = try JSON.parse(#""\"\\\/\b\f\n\r\t""#)
        XCTAssertEqual(value, .string("\"\\/\u{08}\u{0C}\n\r\t"))
    }

    /// RFC 8259 §7: "\u005C" is a reverse solidus; the G clef U+1D11E is "\uD834\uDD1E".
    func testUnicodeEscapesAndSurrogatePairsDecode() throws {
        XCTAssertEqual(try JSON.parse(#""\u005C""#), "\\")
        XCTAssertEqual(try JSON.parse(#""\uD834\uDD1E""#), "\u{1D11E}")
        XCTAssertEqual(try JSON.parse(#""a\u00e9b\u4E2D\u0000""#), "a\u{E9}b\u{4E2D}\u{0}")
        XCTAssertEqual(try JSON.parse(#""\uFFFF\uDBFF\uDFFF""#), "\u{FFFF}\u{10FFFF}")
    }

    func testRawMultiByteUTF8IsAccepted() throws {
        XCTAssertEqual(try JSON.parse("\"héllo 中文 🎉 \u{10FFFF}\""), "héllo 中文 🎉 \u{10FFFF}")
        XCTAssertEqual(try JSON.parse("{\"clé\":\"ü\"}")["clé"], "ü")
    }

    /// RFC 8259 §4 leaves duplicates to the implementation: the last value wins, at the key's
    /// first position.
    func testDuplicateKeysLastValueWinsAtFirstPosition() throws {
        let value = try JSON.parse(#"{"a":1,"b":2,"a":3}"#)
        XCTAssertEqual(value["a"], 3)
        XCTAssertEqual(value.objectValue?.keys, ["a", "b"])
        XCTAssertEqual(value.serialized(), #"{"a":3,"b":2}"#)
    }

    func testSliceAndStringEntryPointsAgreeWithBytes() throws {
        let bytes = Array("xx[1,\"two\"]yy".utf8)
        XCTAssertEqual(try JSON.parse(bytes[2..<11]), [1, "two"])
        XCTAssertEqual(try JSON.parse(Array("[1,\"two\"]".utf8)), [1, "two"])
        // Offsets are relative to the slice.
        do {
            _ = try JSON.parse(bytes[2..<12])
            XCTFail("accepted trailing byte")
        } catch {
            XCTAssertEqual(error, JSONError(offset: 9, reason: JSONError.Reason.trailingCharacters))
        }
        // A bridged or otherwise non-contiguous String still parses.
        let substring = "[true]"[...]
        XCTAssertEqual(try JSON.parse(String(substring)), [true])
    }

    func testLargeArrayAndObjectParseInLinearTime() throws {
        let count = 50_000
        let array = "[" + (0..<count).map(String.init).joined(separator: ",") + "]"
        XCTAssertEqual(try JSON.parse(array).arrayValue?.count, count)
        let object = "{" + (0..<count).map { "\"k\($0)\":\($0)" }.joined(separator: ",") + "}"
        let parsedObject = try JSON.parse(object)
        XCTAssertEqual(parsedObject.objectValue?.count, count)
        XCTAssertEqual(parsedObject["k49999"], .int(49_999))
    }
}
