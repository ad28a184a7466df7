import JSON

/// `relay-bench signup`: N signups over C connections; signups/s and latency, which is
/// mostly the password hash (yescrypt) on the server's workers.
enum SignupCommand {
    static let flags: Set<String> = ["nodes", "users", "concurrency", "pid", "json"]

    static func run(_ args: ArraySlice<String>) throws -> Int32 {
        let options = try BenchOptions(args, known: flags)
        let nodes = try options.nodes()
        let users = try options.int("users", default: 200, range: 1...1_000_000)
        let concurrency = try options.int("concurrency", default: 8, range: 1...1_000)
        let prefix = BenchNames.runPrefix()
        let names = (0..<users).map { "\(prefix)-u\($0)" }
        let run = try BenchRun(options)
        var result: SignupRunner.Outcome?
        let usage = try run.run { loop, done in
            let runner = SignupRunner(loop: loop, nodes: nodes, names: names, concurrency: concurrency)
            runner.start { outcome in
                result = outcome
                _ = runner
                done()
            }
        }
        guard let o = result else { return 1 }
        let perSecond = Report.perSecond(o.succeeded, o.elapsedMicros)
        print("signup: \(users) users, concurrency \(concurrency), nodes \(nodes.map(\.description).joined(separator: ",")), users \(prefix)-*")
        print(String(format: "  %d ok, %d failed in %@: %.1f signups/s", o.succeeded, users - o.succeeded,
                     Report.seconds(o.elapsedMicros), perSecond))
        print("  " + Report.latencyHeader())
        print("  " + Report.latencyRow("signup", o.latency))
        if !o.failures.isEmpty { print("  failures: \(o.failures)") }
        let figures: JSONObject = [
            "mode": "signup", "users": .int(Int64(users)), "concurrency": .int(Int64(concurrency)),
            "nodes": .array(nodes.map { .string($0.description) }),
            "succeeded": .int(Int64(o.succeeded)), "elapsed_s": .double(Double(o.elapsedMicros) / 1e6),
            "signups_per_s": .double(perSecond), "latency": Report.latencyJSON(o.latency), "failures": Report.counts(o.failures),
        ]
        run.report(figures, servers: usage.servers, bench: usage.bench)
        let clean = o.succeeded == users
        print(clean ? "OK" : "FAILED")
        return clean ? 0 : 1
    }
}
