import Dispatch
import Synchronization
/// The outcome of one seeded run, with what it takes to debug a failure.
public struct SimResult: Sendable {
    public var seed: UInt64
    public var profile: SimSettings.Profile
    public var settings: SimSettings
    public var violations: [Violation]
    public var stats: SimStats
    public var simulatedMs: Int64
    public var history: [String]
    public var traceTail: [String]

    public var passed: Bool { violations.isEmpty }

    /// One line: the seed, pass or the first violation.
    public var summary: String {
        passed ? "seed \(seed): ok (\(stats.acked) acked, \(stats.configsCommitted) configs, \(simulatedMs) ms simulated)"
            : "seed \(seed): FAILED \(violations[0])" + (violations.count > 1 ? " (+\(violations.count - 1) more)" : "")
    }

    /// Everything for a failure: the settings, every violation, the register's history, the
    /// trace's last lines, and how to replay it.
    public var report: String {
        var lines = ["seed \(seed) (\(profile.rawValue)): \(settings)", "stats: \(stats)"]
        lines += violations.map { "violation \($0)" }
        lines.append("register history:")
        lines += history.map { "  " + $0 }
        lines.append("last \(traceTail.count) trace lines:")
        lines += traceTail.map { "  " + $0 }
        lines.append("replay: scripts/simulate --seed \(seed) --\(profile.rawValue) --verbose")
        return lines.joined(separator: "\n")
    }
}

extension ReplicationSimulation {
    /// One whole run from a seed: faults and sends, then heal, settle, final writes, check.
    public static func run(seed: UInt64, profile: SimSettings.Profile, verbose: Bool = false,
                           sink: @escaping (String) -> Void = { print($0) }) -> SimResult {
        let settings = SimSettings.random(seed: seed, profile: profile)
        let sim = ReplicationSimulation(seed: seed, settings: settings, verbose: verbose, sink: sink)
        let violations = sim.finish()
        return SimResult(seed: seed, profile: profile, settings: settings, violations: violations, stats: sim.stats,
                         simulatedMs: sim.nowMs, history: sim.historyReport, traceTail: sim.traceTail)
    }
}

extension ReplicationSimulation {
    /// Runs many seeds on `jobs` threads (each run is single-threaded and shares nothing with
    /// the others), results in the seeds' order.
    public static func run(seeds: [UInt64], profile: SimSettings.Profile, jobs: Int) -> [SimResult] {
        let results = Mutex<[SimResult?]>(Array(repeating: nil, count: seeds.count))
        let workers = max(1, min(jobs, seeds.count))
        DispatchQueue.concurrentPerform(iterations: workers) { worker in
            for i in stride(from: worker, to: seeds.count, by: workers) {
                let result = run(seed: seeds[i], profile: profile, sink: { _ in })
                results.withLock { $0[i] = result }
            }
        }
        return results.withLock { $0.map { $0! } }
    }
}
