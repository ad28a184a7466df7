import JSON
import XCTest

final class JSONSerializeTests: XCTestCase {
    func testCompactOutputKeepsKeyOrder() {
        let value: JSON = ["type": "send", "b": [true, nil, 1.5, "x", -3], "a": [:]]
        XCTAssertEqual(value.serialized(), #"{"type":"send","b":[true,null,1.5,"x",-3],"a":{}}"#)
        XCTAssertEqual(JSON.array([]).serialized(), "[]")
        XCTAssertEqual(JSON.string("").serialized(), "\"\"")
    }

    /// RFC 8259 §7: quotation mark, reverse solidus and control characters are escaped; the
    /// short forms are used where they exist.
    func testStringsEscapeQuotesBackslashesAndControlCharacters() {
        let value = JSON.string("\"\\\n\r\t\u{08}\u{0C}\u{00}\u{01}\u{1F}/\u{7F}é\u{2028}🎉")
        XCTAssertEqual(
            value.serialized(),
            "\"\\\"\\\\\\n\\r\\t\\b\\f\\u0000\\u0001\\u001f/\u{7F}é\u{2028}🎉\"")
    }

    func testIntegersPrintAsIntegers() {
        XCTAssertEqual(JSON.int(0).serialized(), "0")
        XCTAssertEqual(JSON.int(Int64.max).serialized(), "9223372036854775807")
        XCTAssertEqual(JSON.int(Int64.min).serialized(), "-9223372036854775808")
        XCTAssertEqual(JSON.int(1_763_700_000_000).serialized(), "1763700000000")
    }

    func testDoublesPrintInShortestRoundTrippingForm() {
        XCTAssertEqual(JSON.double(0.1).serialized(), "0.1")
        XCTAssertEqual(JSON.double(100).serialized(), "100.0")
        XCTAssertEqual(JSON.double(-0.0).serialized(), "-0.0")
        XCTAssertEqual(JSON.double(1e300).serialized(), "1e+300")
        XCTAssertEqual(JSON.double(.leastNonzeroMagnitude).serialized(), "5e-324")
    }

    /// RFC 8259 §6 has no NaN or Infinity; they become null.
    func testNonFiniteDoublesSerializeAsNull() {
        XCTAssertEqual(JSON.double(.nan).serialized(), "null")
        XCTAssertEqual(JSON.double(.infinity).serialized(), "null")
        XCTAssertEqual(JSON.array([.double(-.infinity)]).serialized(), "[null]")
    }

    func testSerializeIntoAppendsToTheBuffer() {
        var buffer = Array("prefix:".utf8)
        JSON.array([1, "a"]).serialize(into: &buffer)
        XCTAssertEqual(String(decoding: buffer, as: UTF8.self), "prefix:[1,\"a\"]")
    }

    func testCompactTextsRoundTripByteForByte() throws {
        let texts = [
            #"{"type":"send","client_id":"c-1","to":"bob","kind":"text","body":"hello there"}"#,
            #"{"conversation_id":"dm:alice:bob","seq":17,"attachments":[],"tip":null,"ts":1763700000000}"#,
            #"[1,-2,3.5,1e+100,true,false,null,"",{},[],[[{"a":[{}]}]]]"#,
            #""\"\\\n\u0001 é 🎉""#,
            "-9223372036854775808",
        ]
        for text in texts {
            XCTAssertEqual(try JSON.parse(text).serialized(), text)
        }
    }

    func testParsedValuesRoundTripThroughSerialization() throws {
        let texts = [
            " { \"a\" : [ 1 , 2.50 , -0.0 , 1E2 ] , \"b\" : \"\\u00e9\\uD834\\uDD1E\\/\" } ",
            "[0.1, 0.2, 0.30000000000000004, 1.7976931348623157e308, 2.2250738585072014e-308]",
            "123456789012345678901234567890",
        ]
        for text in texts {
            let value = try JSON.parse(text)
            XCTAssertEqual(try JSON.parse(value.serialized()), value, text)
        }
    }

    /// Random values built in code survive serialize-then-parse exactly (fixed seed).
    func testRandomValuesRoundTrip() throws {
        var random = XorShift64(seed: 0xC0FFEE)
        for iteration in 0..<2_000 {
            let value = Self.randomValue(&random, depth: 0)
            let text = value.serialized()
            let reparsed: JSON
            do {
                reparsed = try JSON.parse(text)
            } catch {
                XCTFail("iteration \(iteration) seed 0xC0FFEE: \(error) for \(text)")
                continue
            }
            XCTAssertEqual(reparsed, value, "iteration \(iteration) seed 0xC0FFEE: \(text)")
        }
    }

    static func randomValue(_ random: inout XorShift64, depth: Int) -> JSON {
        let choice = random.below(depth >= 4 ? 5 : 7)
        switch choice {
        case 0: return .null
        case 1: return .bool(random.below(2) == 0)
        case 2: return .int(Int64(bitPattern: random.next()) >> random.below(64))
        case 3:
            var number = Double(bitPattern: random.next())
            if !number.isFinite { number = 0.5 }
            return .double(number)
        case 4: return .string(randomString(&random))
        case 5:
            return .array((0..<random.below(5)).map { _ in randomValue(&random, depth: depth + 1) })
        default:
            var object = JSONObject()
            for _ in 0..<random.below(5) {
                object[randomString(&random)] = randomValue(&random, depth: depth + 1)
            }
            return .object(object)
        }
    }

    static func randomString(_ random: inout XorShift64) -> String {
        let pool: [Unicode.Scalar] = ["a", "Z", "\"", "\\", "/", "\n", "\u{0}", "\u{1F}", "\u{7F}", "é", "中", "\u{2028}", "🎉", "\u{10FFFF}"]
        var scalars = String.UnicodeScalarView()
        for _ in 0..<random.below(8) { scalars.append(pool[random.below(pool.count)]) }
        return String(scalars)
    }
}
