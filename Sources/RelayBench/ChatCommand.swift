import Foundation
import JSON

/// `relay-bench chat`: parses its flags, runs `ChatBench`, prints and writes the figures.
/// Exit status 1 if anything acknowledged was lost, duplicated, out of order or refused.
enum ChatCommand {
    static let flags: Set<String> = [
        "nodes", "pairs", "messages", "warmup", "rate", "window", "body-bytes", "duration-s", "timeout-s", "drain-s",
        "receipt-every", "signup-concurrency", "pid", "json",
    ]

    static func run(_ args: ArraySlice<String>) throws -> Int32 {
        let options = try BenchOptions(args, known: flags)
        let settings = ChatBench.Settings(
            nodes: try options.nodes(),
            pairs: try options.int("pairs", default: 1, range: 1...5_000),
            warmup: try options.int("warmup", default: 1, range: 0...1_000),
            messages: try options.int("messages", default: 1_000, range: 1...10_000_000),
            ratePerSender: try options.rate(),
            window: try options.int("window", default: 1, range: 1...256),
            bodyBytes: try options.int("body-bytes", default: 16, range: 0...65_536),
            durationS: try options.seconds("duration-s", default: nil),
            timeoutS: try options.seconds("timeout-s", default: 120) ?? 120,
            drainS: try options.seconds("drain-s", default: 5) ?? 5,
            receiptEvery: try options.int("receipt-every", default: 0, range: 0...1_000_000),
            signupConcurrency: try options.int("signup-concurrency", default: 8, range: 1...1_000),
            prefix: BenchNames.runPrefix(),
            serverPID: try options.pid())
        let run = try BenchRun(options)
        var result: ChatBench.Outcome?
        let usage = try run.run { loop, done in
            let bench = ChatBench(loop: loop, settings: settings)
            bench.start { outcome in
                result = outcome
                _ = bench   // keep the bench alive until it reports
                done()
            }
        }
        guard let outcome = result else { return 1 }
        return report(settings, outcome, run, usage)
    }

    private static func report(_ s: ChatBench.Settings, _ o: ChatBench.Outcome, _ run: BenchRun,
                               _ usage: (servers: [ProcessUsage], bench: ProcessUsage)) -> Int32 {
        let st = o.stats
        let rate = s.ratePerSender.map { String(format: "%g/s per sender", $0) } ?? "unlimited"
        print("chat: \(s.pairs) pairs × \(s.messages) messages, window \(s.window), body \(s.bodyBytes) B, rate \(rate), "
              + "nodes \(s.nodes.map(\.description).joined(separator: ",")), users \(s.prefix)-*")
        if let signup = o.signup {
            let reached = o.connectMicros > 0
                ? "; connect: \(2 * s.pairs) sockets in \(Report.seconds(o.connectMicros)); warm-up: \(s.warmup) per pair in \(Report.seconds(o.warmupMicros))"
                : ""
            print("  signup: \(signup.succeeded) users in \(Report.seconds(signup.elapsedMicros))" + reached)
        }
        let ackSpan = st.lastAckMicros > st.firstSendMicros ? st.lastAckMicros - st.firstSendMicros : 0
        let deliverySpan = st.lastDeliveryMicros > st.firstSendMicros ? st.lastDeliveryMicros - st.firstSendMicros : 0
        let acksPerSecond = Report.perSecond(st.measuredAcks, ackSpan)
        let deliveriesPerSecond = Report.perSecond(st.measuredDeliveries, deliverySpan)
        print("  sent \(st.sent), acked \(st.acked), delivered \(st.delivered), lost \(o.lost), duplicates \(st.duplicateDeliveries), "
              + "seq gaps \(st.seqGaps), seq mismatches \(o.seqMismatches), refused \(st.errors.values.reduce(0, +)), retries \(st.retries)")
        print(String(format: "  %.0f acks/s over %@, %.0f deliveries/s over %@", acksPerSecond, Report.seconds(ackSpan),
                     deliveriesPerSecond, Report.seconds(deliverySpan)))
        print("  " + Report.latencyHeader())
        print("  " + Report.latencyRow("ack", st.ackLatency))
        print("  " + Report.latencyRow("delivery", st.deliveryLatency))
        if s.warmup > 0 { print("  " + Report.latencyRow("warm-up ack", st.warmupAckLatency)) }
        if let cpu = o.serverMeasuredCPUSeconds {
            print(String(format: "  server CPU while measured: %.2f s, %.0f µs per measured message", cpu,
                         st.measuredAcks == 0 ? 0 : cpu * 1e6 / Double(st.measuredAcks)))
        }
        if let slow = st.slowestAck {
            print("  slowest ack: \(slow.pair) message c\(slow.index), sent \(Report.seconds(slow.sentMicros - st.firstSendMicros)) into the run, took \(slow.micros) µs")
        }
        if !st.errors.isEmpty { print("  errors: \(st.errors)") }
        if st.unexpected > 0 || st.duplicateAcks > 0 { print("  unexpected frames \(st.unexpected), duplicate acks \(st.duplicateAcks)") }
        if st.disconnects > 0 { print("  disconnects \(st.disconnects), first: \(st.firstDisconnect ?? "")") }
        if o.drainTimedOut { print("  deliveries still missing \(s.drainS) s after the last ack") }
        if let aborted = o.aborted { print("  ABORTED: \(aborted)") }

        var figures: JSONObject = [
            "mode": "chat", "pairs": .int(Int64(s.pairs)), "warmup_per_sender": .int(Int64(s.warmup)), "messages_per_sender": .int(Int64(s.messages)),
            "window": .int(Int64(s.window)), "body_bytes": .int(Int64(s.bodyBytes)),
            "rate_per_sender": s.ratePerSender.map(JSON.double) ?? .null,
            "nodes": .array(s.nodes.map { .string($0.description) }),
            "sent": .int(Int64(st.sent)), "acked": .int(Int64(st.acked)), "delivered": .int(Int64(st.delivered)),
            "lost": .int(Int64(o.lost)), "duplicates": .int(Int64(st.duplicateDeliveries)), "seq_gaps": .int(Int64(st.seqGaps)),
            "seq_mismatches": .int(Int64(o.seqMismatches)), "retries": .int(Int64(st.retries)),
            "errors": Report.counts(st.errors), "events": Report.counts(st.otherEvents),
            "disconnects": .int(Int64(st.disconnects)),
            "acks_per_s": .double(acksPerSecond), "deliveries_per_s": .double(deliveriesPerSecond),
            "ack_span_s": .double(Double(ackSpan) / 1e6),
            "ack_latency": Report.latencyJSON(st.ackLatency), "warmup_ack_latency": Report.latencyJSON(st.warmupAckLatency), "delivery_latency": Report.latencyJSON(st.deliveryLatency),
            "aborted": o.aborted.map(JSON.string) ?? .null,
            "server_measured_cpu_s": o.serverMeasuredCPUSeconds.map(JSON.double) ?? .null,
        ]
        if let signup = o.signup {
            figures["signup_s"] = .double(Double(signup.elapsedMicros) / 1e6)
            figures["signup_latency"] = Report.latencyJSON(signup.latency)
        }
        run.report(figures, servers: usage.servers, bench: usage.bench)
        let clean = o.aborted == nil && o.lost == 0 && st.duplicateDeliveries == 0 && st.seqGaps == 0
            && o.seqMismatches == 0 && st.errors.isEmpty && st.disconnects == 0
        print(clean ? "OK" : "FAILED")
        return clean ? 0 : 1
    }
}
