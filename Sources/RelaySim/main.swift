#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif
import ReplicationSim

// relay-sim: runs the replication simulation for many seeds, or replays one.
//
//   relay-sim --seeds 1-500 [--quick|--full] [--jobs N]   every seed in the range (N at once)
//   relay-sim --seed 42 [--quick|--full] --verbose   one seed, with every node's log
//
// Exit status 1 when a seed fails. Each failure prints its seed, the violations, the
// register's history, the trace's last lines and the command that replays it.

struct Options {
    var from: UInt64 = 1
    var through: UInt64 = 100
    var profile = SimSettings.Profile.full
    var verbose = false
    /// Seeds run at once on this many threads (each run is single-threaded).
    var jobs = 1
}

func usage() -> Never {
    print("usage: relay-sim (--seeds FROM-TO | --seed N) [--quick | --full] [--verbose] [--jobs N]")
    exit(2)
}

func parse(_ args: [String]) -> Options {
    var o = Options()
    var i = 0
    while i < args.count {
        switch args[i] {
        case "--seeds":
            i += 1
            guard i < args.count else { usage() }
            let parts = args[i].split(separator: "-")
            guard parts.count == 2, let a = UInt64(parts[0]), let b = UInt64(parts[1]), a <= b else { usage() }
            o.from = a
            o.through = b
        case "--seed":
            i += 1
            guard i < args.count, let n = UInt64(args[i]) else { usage() }
            o.from = n
            o.through = n
        case "--quick": o.profile = .quick
        case "--full": o.profile = .full
        case "--verbose": o.verbose = true
        case "--jobs":
            i += 1
            guard i < args.count, let n = Int(args[i]), n >= 1 else { usage() }
            o.jobs = n
        default: usage()
        }
        i += 1
    }
    return o
}

let options = parse(Array(CommandLine.arguments.dropFirst()))
let clock = ContinuousClock()
let started = clock.now
var failed: [UInt64] = []
var simulatedMs: Int64 = 0
let seeds = Array(options.from...options.through)
let results = options.verbose || options.jobs == 1
    ? seeds.map { ReplicationSimulation.run(seed: $0, profile: options.profile, verbose: options.verbose) }
    : ReplicationSimulation.run(seeds: seeds, profile: options.profile, jobs: options.jobs)
for result in results {
    let seed = result.seed
    simulatedMs += result.simulatedMs
    if result.passed {
        if options.verbose || options.from == options.through { print(result.summary) }
    } else {
        failed.append(seed)
        print(result.report)
        print(result.summary)
    }
}
let elapsed = clock.now - started
let count = options.through - options.from + 1
print("seeds \(options.from)-\(options.through) (\(options.profile.rawValue)): \(count - UInt64(failed.count)) passed, "
    + "\(failed.count) failed; \(simulatedMs / 1_000) s simulated in \(elapsed)")
if !failed.isEmpty {
    print("failing seeds: " + failed.map(String.init).joined(separator: " "))
    exit(1)
}
