import JSON
import XCTest

/// Hostile input: the parser must return or throw, never crash, and whatever it accepts must
/// serialize back to text that parses to the same value. Failures print the seed.
final class JSONRobustnessTests: XCTestCase {
    /// Bytes biased toward the grammar so the parser gets past the first byte.
    static let alphabet: [UInt8] = Array("{}[],:\"\\-+.0123456789eEtrufalsn u \t\n".utf8) + [0x00, 0x1F, 0x7F, 0x80, 0xBF, 0xC3, 0xE2, 0xED, 0xF0, 0xF4, 0xFF]

    func testRandomBytesNeverCrashTheParser() {
        let seed: UInt64 = 0x5EED_0001
        var random = XorShift64(seed: seed)
        var accepted = 0
        for iteration in 0..<20_000 {
            let length = random.below(48)
            let bytes = (0..<length).map { _ in
                random.below(4) == 0 ? UInt8(truncatingIfNeeded: random.next()) : Self.alphabet[random.below(Self.alphabet.count)]
            }
            if checkParse(bytes, context: "seed \(seed) iteration \(iteration)") { accepted += 1 }
        }
        // Random bytes are almost never JSON; a few short ones ("1", "[]") are.
        XCTAssertLessThan(accepted, 20_000)
    }

    func testMutatedDocumentsNeverCrashTheParser() {
        let seed: UInt64 = 0x5EED_0002
        let documents = [
            #"{"type":"send","client_id":"c-1","to":"bob","kind":"text","body":"hello there"}"#,
            #"{"type":"sync","since":{"dm:alice:bob":17,"grp:x":0}}"#,
            #"[1,-2.5e-3,true,false,null,"é\u00e9\uD834\uDD1E\n",{"a":[{}]},[]]"#,
            #"{"tip":{"amount_cents":500,"currency":"USD"},"attachments":["a1","a2"],"seq":9223372036854775807}"#,
        ].map { Array($0.utf8) }
        var random = XorShift64(seed: seed)
        var accepted = 0
        for iteration in 0..<20_000 {
            var bytes = documents[random.below(documents.count)]
            for _ in 0...random.below(3) {
                let position = random.below(bytes.count + 1)
                let byte = random.below(2) == 0 ? Self.alphabet[random.below(Self.alphabet.count)] : UInt8(truncatingIfNeeded: random.next())
                switch random.below(3) {
                case 0 where position < bytes.count: bytes[position] = byte
                case 1 where position < bytes.count: bytes.remove(at: position)
                default: bytes.insert(byte, at: position)
                }
            }
            if checkParse(bytes, context: "seed \(seed) iteration \(iteration)") { accepted += 1 }
        }
        // Some mutations (inside a string, a digit for a digit) keep the document valid.
        XCTAssertGreaterThan(accepted, 0)
        XCTAssertLessThan(accepted, 20_000)
    }

    /// Parses; on success checks the round trip, on failure that the offset is in range.
    /// Returns whether the bytes were accepted.
    private func checkParse(_ bytes: [UInt8], context: String) -> Bool {
        do {
            let value = try JSON.parse(bytes)
            let text = value.serialized()
            XCTAssertEqual(try? JSON.parse(text), value, "\(context): \(bytes) -> \(text)")
            return true
        } catch {
            XCTAssertTrue((0...bytes.count).contains(error.offset), "\(context): \(error) for \(bytes)")
            XCTAssertFalse(error.reason.isEmpty, context)
            return false
        }
    }
}
