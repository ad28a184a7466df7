import JSON
import XCTest

/// Asserts that `text` is rejected with exactly this offset and reason.
func assertRejects(
    _ text: String, offset: Int, reason: String, limits: JSONLimits = .default,
    file: StaticString = #filePath, line: UInt = #line
) {
    assertRejects(Array(text.utf8), offset: offset, reason: reason, limits: limits, file: file, line: line)
}

func assertRejects(
    _ bytes: [UInt8], offset: Int, reason: String, limits: JSONLimits = .default,
    file: StaticString = #filePath, line: UInt = #line
) {
    do {
        let value = try JSON.parse(bytes, limits: limits)
        XCTFail("accepted \(value) from \(bytes)", file: file, line: line)
    } catch {
        XCTAssertEqual(error, JSONError(offset: offset, reason: reason), file: file, line: line)
    }
}

/// Parses text that must be accepted, failing the test (not crashing) when it is not.
func parsed(_ text: String, file: StaticString = #filePath, line: UInt = #line) -> JSON? {
    do {
        return try JSON.parse(text)
    } catch {
        XCTFail("rejected \(text): \(error)", file: file, line: line)
        return nil
    }
}

/// xorshift64 (Marsaglia 2003): a tiny deterministic generator so robustness tests repeat.
struct XorShift64 {
    var state: UInt64

    init(seed: UInt64) { state = seed == 0 ? 0x9E37_79B9_7F4A_7C15 : seed }

    mutating func next() -> UInt64 {
        state ^= state << 13
        state ^= state >> 7
        state ^= state << 17
        return state
    }

    mutating func below(_ bound: Int) -> Int { Int(next() % UInt64(bound)) }
}
