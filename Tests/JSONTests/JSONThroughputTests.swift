import JSON
import XCTest

/// Prints parse throughput for a typical chat frame. Measurement only: no timing assertion
/// (the figure depends on the build configuration and the machine's load). The best of a few
/// rounds is reported, since other processes on a shared machine only ever slow a round down.
final class JSONThroughputTests: XCTestCase {
    func testChatFrameParseThroughput() throws {
        let frame = Array(#"{"type":"send","client_id":"c-1","to":"bob","kind":"text","body":"hello there"}"#.utf8)
        let rounds = 5
        let iterationsPerRound = 20_000
        var bodyBytes = 0
        var bestSeconds = Double.infinity
        let clock = ContinuousClock()
        for _ in 0..<rounds {
            let elapsed = try clock.measure {
                for _ in 0..<iterationsPerRound {
                    bodyBytes &+= try JSON.parse(frame)["body"]?.stringValue?.utf8.count ?? 0
                }
            }
            let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
            bestSeconds = min(bestSeconds, seconds)
        }
        XCTAssertEqual(bodyBytes, rounds * iterationsPerRound * 11)
        let framesPerSecond = Double(iterationsPerRound) / bestSeconds
        let megabytesPerSecond = framesPerSecond * Double(frame.count) / 1e6
        print(
            "JSON parse throughput: \(Int(framesPerSecond)) frames/s, \(Int(megabytesPerSecond)) MB/s,",
            "\(Int(bestSeconds * 1e9 / Double(iterationsPerRound))) ns/frame (\(frame.count)-byte chat frame,",
            "best of \(rounds) rounds of \(iterationsPerRound))")
    }
}
