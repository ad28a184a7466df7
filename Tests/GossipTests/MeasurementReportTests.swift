import Gossip
import Simulation
import Foundation
import XCTest

/// Prints the figures docs/GOSSIP.md reports, with few trials to stay fast; the full run is
/// `GossipMeasurements.report(seed: 1, trials: 200)` (see docs/GOSSIP.md for the command).
/// Timings are printed, not asserted: targets are reported, the bounds are tested elsewhere.
final class MeasurementReportTests: XCTestCase {
    func testPrintsDetectionDisseminationAndBandwidth() {
        let detection = GossipMeasurements.detectionTimes(members: 10, trials: 10, seed: 1)
        let (join, leave) = GossipMeasurements.disseminationTimes(members: 20, trials: 10, seed: 2)
        let bandwidth10 = GossipMeasurements.bandwidth(members: 10, seconds: 30, seed: 3)
        print("gossip: detection 10 members: \(detection)")
        print("gossip: join reaches 20 members: \(join); leave: \(leave)")
        print("gossip: bandwidth 10 members: \(Int(bandwidth10)) bytes/member/s")
        XCTAssertEqual(detection.sorted.count, 10)
        XCTAssertEqual(join.sorted.count, 10)
        XCTAssertEqual(leave.sorted.count, 10)
        XCTAssertGreaterThan(bandwidth10, 0)
    }

    /// The full figures for docs/GOSSIP.md (a few minutes in debug; use `-c release`):
    /// `GOSSIP_REPORT_TRIALS=200 swift test -c release --filter testPrintsFullReport`.
    func testPrintsFullReport() throws {
        let trials = Int(ProcessInfo.processInfo.environment["GOSSIP_REPORT_TRIALS"] ?? "") ?? 0
        try XCTSkipUnless(trials > 0, "set GOSSIP_REPORT_TRIALS to run the full measurement")
        let report = GossipMeasurements.report(seed: 1, trials: trials)
        print(report)
        XCTAssertFalse(report.contains("n=0"), report)
    }
}
