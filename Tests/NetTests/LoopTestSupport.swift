import Glibc
import XCTest
@testable import Net

/// Runs `loop` until a callback stops it. A guard timer stops it after `timeoutMs` and fails
/// the test, so a broken test fails instead of hanging.
func runLoop(_ loop: EventLoop, timeoutMs: Int64 = 5_000, file: StaticString = #filePath, line: UInt = #line) {
    var timedOut = false
    let guardTimer = loop.schedule(afterMs: timeoutMs) {
        timedOut = true
        loop.stop()
    }
    loop.run()
    loop.cancel(guardTimer)
    XCTAssertFalse(timedOut, "the loop was still running after \(timeoutMs) ms", file: file, line: line)
}

extension XCTestCase {
    /// A loop that is shut down when the test ends, so sockets left open by the test and the
    /// cycles through their callbacks do not outlive it.
    func makeLoop() throws -> EventLoop {
        let loop = try EventLoop()
        addTeardownBlock { loop.shutdown() }
        return loop
    }
}

/// A value shared with `@Sendable` closures that only ever touch it on the loop thread.
final class LoopOnly<Value>: @unchecked Sendable {
    var value: Value
    init(_ value: Value) { self.value = value }
}

/// A bulk-transfer pattern: 251 is prime, so the pattern never lines up
/// with chunk or buffer boundaries and a lost, duplicated or reordered chunk shows.
func patternBytes(count: Int) -> [UInt8] {
    let period = (0..<251).map { UInt8($0) }
    var bytes: [UInt8] = []
    bytes.reserveCapacity(count + period.count)
    while bytes.count < count { bytes += period }
    return Array(bytes.prefix(count))
}
