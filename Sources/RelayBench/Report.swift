import Foundation
import JSON

/// Formatting shared by the subcommands: latency tables, rates, process usage, the JSON file.
enum Report {
    static let percentiles: [(String, Double)] = [("p50", 50), ("p90", 90), ("p99", 99)]

    static func latencyHeader() -> String {
        pad("latency (µs)", 14) + ["p50", "p90", "p99", "max", "mean", "count"].map { pad($0, 10, right: true) }.joined()
    }

    static func latencyRow(_ name: String, _ h: LatencyHistogram) -> String {
        let cells = percentiles.map { String(h.percentile($0.1)) } + [String(h.count == 0 ? 0 : h.max), String(Int(h.mean)), String(h.count)]
        return pad(name, 14) + cells.map { pad($0, 10, right: true) }.joined()
    }

    static func latencyJSON(_ h: LatencyHistogram) -> JSON {
        var o: JSONObject = ["count": .int(Int64(h.count))]
        for (name, p) in percentiles { o["\(name)_us"] = .int(Int64(h.percentile(p))) }
        o["max_us"] = .int(Int64(h.count == 0 ? 0 : h.max))
        o["mean_us"] = .double(h.mean)
        return .object(o)
    }

    static func perSecond(_ count: Int, _ micros: UInt64) -> Double {
        micros == 0 ? 0 : Double(count) * 1_000_000 / Double(micros)
    }

    static func seconds(_ micros: UInt64) -> String { String(format: "%.2f s", Double(micros) / 1_000_000) }

    static func mib(_ kib: Int?) -> String { kib.map { String(format: "%.1f MiB", Double($0) / 1024) } ?? "?" }

    static func usageLine(_ label: String, _ usage: ProcessUsage) -> String {
        "\(label) (pid \(usage.pid)): peak RSS \(mib(usage.peakRSSKiB)), RSS now \(mib(usage.rssKiB)), CPU "
            + (usage.cpuSeconds.map { String(format: "%.2f s", $0) } ?? "?")
    }

    static func usageJSON(_ usage: ProcessUsage) -> JSON {
        var o: JSONObject = ["pid": .int(Int64(usage.pid))]
        if let v = usage.peakRSSKiB { o["peak_rss_kib"] = .int(Int64(v)) }
        if let v = usage.rssKiB { o["rss_kib"] = .int(Int64(v)) }
        if let v = usage.cpuSeconds { o["cpu_s"] = .double(v) }
        return .object(o)
    }

    static func counts(_ dictionary: [String: Int]) -> JSON {
        var o = JSONObject()
        for key in dictionary.keys.sorted() { o[key] = .int(Int64(dictionary[key] ?? 0)) }
        return .object(o)
    }

    static func write(_ json: JSON, to path: String) throws {
        try Data((json.serialized() + "\n").utf8).write(to: URL(fileURLWithPath: path))
    }

    static func pad(_ text: String, _ width: Int, right: Bool = false) -> String {
        let fill = String(repeating: " ", count: max(0, width - text.count))
        return right ? fill + text : text + fill
    }
}
