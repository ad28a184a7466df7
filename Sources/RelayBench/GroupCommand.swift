import Foundation
import Glibc
import JSON

/// `relay-bench group`: parses its flags, runs `GroupBench`, prints and writes the figures.
/// Exit status 1 on any loss, duplicate, reordering, echo, refusal or disconnect.
enum GroupCommand {
    static let flags: Set<String> = [
        "nodes", "members", "messages", "senders", "window", "body-bytes", "warmup", "timeout-s", "drain-s", "settle-ms", "connect-concurrency", "at-creation",
        "signup-concurrency", "pid", "json",
    ]

    static func run(_ args: ArraySlice<String>) throws -> Int32 {
        let options = try BenchOptions(args, known: flags)
        let members = try options.int("members", default: 100, range: 2...100_000)
        let settings = GroupBench.Settings(
            nodes: try options.nodes(),
            members: members,
            senders: try options.int("senders", default: 1, range: 1...members),
            messages: try options.int("messages", default: 1_000, range: 1...10_000_000),
            warmup: try options.int("warmup", default: 1, range: 0...1_000),
            window: try options.int("window", default: 32, range: 1...4_096),
            bodyBytes: try options.int("body-bytes", default: 16, range: 0...65_536),
            timeoutS: try options.seconds("timeout-s", default: 300) ?? 300,
            drainS: try options.seconds("drain-s", default: 10) ?? 10,
            settleMs: try options.int("settle-ms", default: 500, range: 0...60_000),
            connectConcurrency: try options.int("connect-concurrency", default: 32, range: 1...100_000),
            signupConcurrency: try options.int("signup-concurrency", default: 8, range: 1...1_000),
            prefix: BenchNames.runPrefix(),
            serverPIDs: try options.pids(),
            othersAtCreation: try options.int("at-creation", default: GroupBench.maxOthersAtCreation,
                                              range: 0...GroupBench.maxOthersAtCreation))
        // Each member connection keeps one bit per message: bound that memory (~128 MiB).
        guard Double(members) * Double(settings.messages + settings.warmup) <= 1e9 else {
            throw UsageError("--members × --messages must be at most 1,000,000,000")
        }
        try raiseOpenFileLimit(needed: members + settings.signupConcurrency + 64)
        let run = try BenchRun(options, severalPIDs: true)
        var result: GroupBench.Outcome?
        let usage = try run.run { loop, done in
            let bench = GroupBench(loop: loop, settings: settings)
            bench.start { outcome in
                result = outcome
                _ = bench   // keep the bench alive until it reports
                done()
            }
        }
        guard let outcome = result else { return 1 }
        return report(settings, outcome, run, usage)
    }

    /// One descriptor per member socket: raise the soft RLIMIT_NOFILE to the hard limit if
    /// the soft one is short, and refuse to start if even the hard one is.
    static func raiseOpenFileLimit(needed: Int) throws {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return }
        guard limit.rlim_cur < rlim_t(needed) else { return }
        guard limit.rlim_max == rlim_t.max || limit.rlim_max >= rlim_t(needed) else {
            throw UsageError("needs \(needed) open files, the hard limit is \(limit.rlim_max) (ulimit -Hn)")
        }
        limit.rlim_cur = limit.rlim_max == rlim_t.max ? rlim_t(needed) : limit.rlim_max
        guard setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else {
            throw UsageError("could not raise the open-file limit to \(limit.rlim_cur)")
        }
    }

    private static func report(_ s: GroupBench.Settings, _ o: GroupBench.Outcome, _ run: BenchRun,
                               _ usage: (servers: [ProcessUsage], bench: ProcessUsage)) -> Int32 {
        let l = o.ledger
        print("group: \(s.members) members, \(s.senders) sender(s), \(s.messages) messages (+\(s.warmup) warm-up), window \(s.window), "
              + "body \(s.bodyBytes) B, nodes \(s.nodes.map(\.description).joined(separator: ",")), users \(s.prefix)-*, group \(o.groupID ?? "-")")
        if let signup = o.signup {
            print("  signup: \(signup.succeeded) users in \(Report.seconds(signup.elapsedMicros)); create: \(Report.seconds(o.createMicros))"
                  + (o.membersAdded > 0 ? " (\(o.membersAdded) added one by one)" : "") + "; "
                  + "connect: \(s.members) sockets in \(Report.seconds(o.connectMicros)); warm-up: \(Report.seconds(o.warmupMicros))")
        }
        if o.connectRetries > 0 { print("  connects refused and retried: \(o.connectRetries), first: \(o.firstConnectRetry ?? "")") }
        let ackSpan = l.lastAckMicros > l.firstSendMicros ? l.lastAckMicros - l.firstSendMicros : 0
        let deliverySpan = l.lastDeliveryMicros > l.firstSendMicros ? l.lastDeliveryMicros - l.firstSendMicros : 0
        let acksPerSecond = Report.perSecond(l.measuredAcks, ackSpan)
        let deliveriesPerSecond = Report.perSecond(l.measuredDeliveries, deliverySpan)
        let refused = l.errors.values.reduce(0, +)
        print("  sent \(l.sent), acked \(l.acked), deliveries \(l.delivered) (expected \(l.acked * l.expectedPerMessage)), lost \(o.lost) "
              + "(warm-up \(o.warmupLost)), duplicates \(l.duplicateDeliveries), out of order \(l.outOfOrder), echoes \(l.echoes), "
              + "seq mismatches \(l.seqMismatches), refused \(refused), retries \(l.retries)")
        print(String(format: "  %.0f deliveries/s over %@ (first send to last delivery), %.0f acks/s over %@", deliveriesPerSecond,
                     Report.seconds(deliverySpan), acksPerSecond, Report.seconds(ackSpan)))
        print("  " + Report.latencyHeader())
        print("  " + Report.latencyRow("ack", l.ackLatency))
        print("  " + Report.latencyRow("delivery", l.deliveryLatency))
        if s.warmup > 0 { print("  " + Report.latencyRow("warm-up ack", l.warmupAckLatency)) }
        let cpuPerDelivery = o.serverMeasuredCPUSeconds.map { l.measuredDeliveries == 0 ? 0 : $0 * 1e6 / Double(l.measuredDeliveries) }
        if let cpu = o.serverMeasuredCPUSeconds, let perDelivery = cpuPerDelivery {
            print(String(format: "  server CPU while measured (%d pids): %.2f s, %.2f µs per delivery, %.0f µs per message", s.serverPIDs.count, cpu,
                         perDelivery, l.measuredAcks == 0 ? 0 : cpu * 1e6 / Double(l.measuredAcks)))
        }
        if let cpu = o.benchMeasuredCPUSeconds {
            print(String(format: "  bench CPU while measured: %.2f s, %.2f µs per delivery", cpu,
                         l.measuredDeliveries == 0 ? 0 : cpu * 1e6 / Double(l.measuredDeliveries)))
        }
        if !l.errors.isEmpty { print("  errors: \(l.errors)") }
        if l.unexpected > 0 { print("  unexpected frames \(l.unexpected)") }
        if l.disconnects > 0 { print("  disconnects \(l.disconnects), first: \(l.firstDisconnect ?? "")") }
        if o.warmupTimedOut { print("  the warm-up did not reach every member") }
        if o.drainTimedOut { print("  deliveries still missing \(s.drainS) s after the last ack") }
        if let aborted = o.aborted { print("  ABORTED: \(aborted)") }

        var figures: JSONObject = [
            "mode": "group", "members": .int(Int64(s.members)), "senders": .int(Int64(s.senders)),
            "messages": .int(Int64(s.messages)), "warmup": .int(Int64(s.warmup)), "window": .int(Int64(s.window)),
            "body_bytes": .int(Int64(s.bodyBytes)), "nodes": .array(s.nodes.map { .string($0.description) }),
            "group": o.groupID.map(JSON.string) ?? .null,
            "sent": .int(Int64(l.sent)), "acked": .int(Int64(l.acked)), "deliveries": .int(Int64(l.delivered)),
            "measured_deliveries": .int(Int64(l.measuredDeliveries)),
            "lost": .int(Int64(o.lost)), "warmup_lost": .int(Int64(o.warmupLost)), "duplicates": .int(Int64(l.duplicateDeliveries)),
            "out_of_order": .int(Int64(l.outOfOrder)), "echoes": .int(Int64(l.echoes)), "seq_mismatches": .int(Int64(l.seqMismatches)),
            "retries": .int(Int64(l.retries)), "errors": Report.counts(l.errors), "events": Report.counts(l.otherEvents),
            "unexpected": .int(Int64(l.unexpected)), "disconnects": .int(Int64(l.disconnects)),
            "deliveries_per_s": .double(deliveriesPerSecond), "delivery_span_s": .double(Double(deliverySpan) / 1e6),
            "acks_per_s": .double(acksPerSecond), "ack_span_s": .double(Double(ackSpan) / 1e6),
            "ack_latency": Report.latencyJSON(l.ackLatency), "warmup_ack_latency": Report.latencyJSON(l.warmupAckLatency),
            "delivery_latency": Report.latencyJSON(l.deliveryLatency),
            "server_measured_cpu_s": o.serverMeasuredCPUSeconds.map(JSON.double) ?? .null,
            "server_cpu_us_per_delivery": cpuPerDelivery.map(JSON.double) ?? .null,
            "signup_s": .double(Double(o.signup?.elapsedMicros ?? 0) / 1e6), "create_s": .double(Double(o.createMicros) / 1e6),
            "members_added": .int(Int64(o.membersAdded)),
            "connect_s": .double(Double(o.connectMicros) / 1e6), "warmup_s": .double(Double(o.warmupMicros) / 1e6),
            "aborted": o.aborted.map(JSON.string) ?? .null,
        ]
        figures["drain_timed_out"] = .bool(o.drainTimedOut)
        // CLOCK_MONOTONIC, as `perf record -k CLOCK_MONOTONIC` stamps samples: a profile of a
        // node can be cut to the measured phase (`perf report --time START,END`).
        figures["first_send_monotonic_s"] = .double(Double(l.firstSendMicros) / 1e6)
        figures["last_delivery_monotonic_s"] = .double(Double(l.lastDeliveryMicros) / 1e6)
        figures["bench_measured_cpu_s"] = o.benchMeasuredCPUSeconds.map(JSON.double) ?? .null
        figures["connect_retries"] = .int(Int64(o.connectRetries))
        run.report(figures, servers: usage.servers, bench: usage.bench)
        let clean = o.aborted == nil && o.lost == 0 && o.warmupLost == 0 && l.duplicateDeliveries == 0 && l.outOfOrder == 0
            && l.echoes == 0 && l.seqMismatches == 0 && l.errors.isEmpty && l.disconnects == 0 && !o.warmupTimedOut
        print(clean ? "OK" : "FAILED")
        return clean ? 0 : 1
    }
}
