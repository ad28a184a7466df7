import JSON

/// `relay-bench history`: fills one conversation, then times history page reads.
enum HistoryCommand {
    static let flags: Set<String> = ["nodes", "messages", "page", "reads", "concurrency", "timeout-s", "pid", "json"]

    static func run(_ args: ArraySlice<String>) throws -> Int32 {
        let options = try BenchOptions(args, known: flags)
        let settings = HistoryBench.Settings(
            nodes: try options.nodes(),
            messages: try options.int("messages", default: 1_000, range: 1...10_000_000),
            pageSize: try options.int("page", default: 100, range: 1...100),
            reads: try options.int("reads", default: 1_000, range: 1...10_000_000),
            concurrency: try options.int("concurrency", default: 1, range: 1...1_000),
            timeoutS: try options.seconds("timeout-s", default: 120) ?? 120,
            prefix: BenchNames.runPrefix())
        let run = try BenchRun(options)
        var result: HistoryBench.Outcome?
        let usage = try run.run { loop, done in
            let bench = HistoryBench(loop: loop, settings: settings)
            bench.start { outcome in
                result = outcome
                _ = bench
                done()
            }
        }
        guard let o = result else { return 1 }
        let fillRate = Report.perSecond(o.filled, o.fillMicros)
        let readRate = Report.perSecond(o.reads, o.readMicros)
        print("history: \(settings.messages) messages, page \(settings.pageSize), \(settings.reads) reads, concurrency \(settings.concurrency), "
              + "nodes \(settings.nodes.map(\.description).joined(separator: ","))")
        print(String(format: "  fill: %d messages in %@ (%.0f/s, one socket, window %d)", o.filled, Report.seconds(o.fillMicros),
                     fillRate, HistoryBench.fillWindow))
        print(String(format: "  reads: %d pages in %@: %.0f pages/s, %.0f messages/s; wrong page sizes %d", o.reads,
                     Report.seconds(o.readMicros), readRate, Report.perSecond(o.messagesRead, o.readMicros), o.wrongPages))
        print("  " + Report.latencyHeader())
        print("  " + Report.latencyRow("page read", o.latency))
        if !o.failures.isEmpty { print("  failures: \(o.failures)") }
        if let aborted = o.aborted { print("  ABORTED: \(aborted)") }
        let figures: JSONObject = [
            "mode": "history", "messages": .int(Int64(settings.messages)), "page": .int(Int64(settings.pageSize)),
            "concurrency": .int(Int64(settings.concurrency)), "nodes": .array(settings.nodes.map { .string($0.description) }),
            "filled": .int(Int64(o.filled)), "fill_per_s": .double(fillRate),
            "reads": .int(Int64(o.reads)), "reads_per_s": .double(readRate),
            "messages_read": .int(Int64(o.messagesRead)), "wrong_pages": .int(Int64(o.wrongPages)),
            "latency": Report.latencyJSON(o.latency), "failures": Report.counts(o.failures),
            "aborted": o.aborted.map(JSON.string) ?? .null,
        ]
        run.report(figures, servers: usage.servers, bench: usage.bench)
        let clean = o.aborted == nil && o.wrongPages == 0 && o.failures.isEmpty
        print(clean ? "OK" : "FAILED")
        return clean ? 0 : 1
    }
}
