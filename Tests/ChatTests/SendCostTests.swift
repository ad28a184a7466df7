import XCTest
@testable import Chat
import Foundation
import Glibc

func cpuNanos() -> UInt64 {
    var ts = timespec()
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts)
    return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
}

final class SendCostTests: XCTestCase {
    func testSendCost() throws {
        guard ProcessInfo.processInfo.environment["RELAY_MEASURE"] != nil else { throw XCTSkip("RELAY_MEASURE=1") }
        let h = try ChatHarness()
        let alice = try h.signup("alice")
        _ = try h.signup("bob")
        _ = h.send(alice, to: "bob", "warm", clientID: "w")
        for round in 0..<3 {
            var acked = 0
            let start = cpuNanos()
            for batch in 0..<200 {
                for i in 0..<20 {
                    let command = try! SendCommand(["client_id": .string("r\(round)-\(batch)-\(i)"), "to": "bob", "kind": "text",
                                                    "body": .string(String(repeating: "x", count: 100))])
                    h.chat.send(alice, command, origin: nil) { if case .success = $0 { acked += 1 } }
                }
                h.settle()
            }
            let ns = cpuNanos() - start
            print("ROUND \(round): \(acked) acked, \(Double(ns) / 1000 / Double(acked)) us per send")
        }
    }
}
