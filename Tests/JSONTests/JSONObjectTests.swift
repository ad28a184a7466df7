import JSON
import XCTest

final class JSONObjectTests: XCTestCase {
    func testMembersKeepInsertionOrder() {
        var object = JSONObject()
        object["z"] = 1
        object["a"] = 2
        object["m"] = 3
        XCTAssertEqual(object.keys, ["z", "a", "m"])
        XCTAssertEqual(object.map(\.key), ["z", "a", "m"])
        XCTAssertEqual(object.map(\.value), [1, 2, 3])
        XCTAssertEqual(object.count, 3)
        XCTAssertFalse(object.isEmpty)
        XCTAssertTrue(JSONObject().isEmpty)
    }

    func testSettingAnExistingKeyReplacesItInPlace() {
        var object: JSONObject = ["a": 1, "b": 2, "c": 3]
        object["b"] = "two"
        XCTAssertEqual(object.keys, ["a", "b", "c"])
        XCTAssertEqual(object["b"], "two")
    }

    func testSettingNilRemovesTheKey() {
        var object: JSONObject = ["a": 1, "b": 2, "c": 3]
        object["b"] = nil
        object["missing"] = nil
        XCTAssertEqual(object.keys, ["a", "c"])
        XCTAssertNil(object["b"])
        // A JSON null is a value, not a removal.
        object["a"] = .null
        XCTAssertEqual(object["a"], .null)
        XCTAssertEqual(object.count, 2)
    }

    func testDictionaryLiteralDuplicatesLastValueWins() {
        let object: JSONObject = ["a": 1, "b": 2, "a": 3]
        XCTAssertEqual(object.keys, ["a", "b"])
        XCTAssertEqual(object["a"], 3)
    }

    /// RFC 8259 §4: an object is an unordered collection.
    func testEqualityIgnoresMemberOrder() {
        let first: JSONObject = ["a": 1, "b": [true]]
        let second: JSONObject = ["b": [true], "a": 1]
        XCTAssertEqual(first, second)
        XCTAssertNotEqual(first, ["a": 1, "b": [false]])
        XCTAssertNotEqual(first, ["a": 1])
        XCTAssertNotEqual(first, ["a": 1, "c": [true]])
    }

    /// Past the linear-search size an index takes over; it must stay right through removals.
    func testLargeObjectsStayConsistentThroughInsertsAndRemovals() {
        var object = JSONObject()
        for number in 0..<100 { object["k\(number)"] = .int(Int64(number)) }
        for number in stride(from: 0, to: 100, by: 2) { object["k\(number)"] = nil }
        XCTAssertEqual(object.count, 50)
        XCTAssertEqual(object.keys.first, "k1")
        for number in 0..<100 {
            XCTAssertEqual(object["k\(number)"], number % 2 == 0 ? nil : .int(Int64(number)))
        }
        object["k1"] = "replaced"
        object["new"] = true
        XCTAssertEqual(object.keys.first, "k1")
        XCTAssertEqual(object.keys.last, "new")
        XCTAssertEqual(object["k1"], "replaced")
        // Shrinking back below the threshold returns to linear search.
        for number in stride(from: 1, to: 100, by: 2) { object["k\(number)"] = nil }
        XCTAssertEqual(object.keys, ["new"])
        XCTAssertEqual(object["new"], true)
    }

    /// RFC 8259 §8.3: keys compare code unit by code unit, so canonically equivalent but
    /// different keys stay separate members (Swift's `String ==` would merge them).
    func testCanonicallyEquivalentKeysStayDistinct() throws {
        let precomposed = "\u{E9}"
        let decomposed = "e\u{301}"
        var object = JSONObject()
        object[precomposed] = 1
        object[decomposed] = 2
        XCTAssertEqual(object.count, 2)
        XCTAssertEqual(object[precomposed], 1)
        XCTAssertEqual(object[decomposed], 2)
        let parsed = try JSON.parse(#"{"\u00e9":1,"e\u0301":2}"#)
        XCTAssertEqual(parsed.objectValue?.count, 2)
        XCTAssertEqual(parsed[decomposed], 2)

        var large = JSONObject()
        for number in 0..<20 { large["k\(number)"] = .int(Int64(number)) }
        large[precomposed] = 1
        large[decomposed] = 2
        XCTAssertEqual(large.count, 22)
        XCTAssertEqual(large[precomposed], 1)
        XCTAssertEqual(large[decomposed], 2)
    }
}
