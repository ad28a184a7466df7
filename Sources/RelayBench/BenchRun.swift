import Foundation
import JSON
import Net

/// What every subcommand shares: the event loop it runs on, the server process it watches,
/// and the JSON file it writes.
struct BenchRun {
    /// After a bench finishes, the loop keeps turning this long so Close frames get out.
    static let closeGraceMs: Int64 = 100

    /// The servers to watch: one with `--pid PID`, several (one per node) where the mode
    /// takes `--pid PID,PID...`.
    let serverPIDs: [Int32]
    let jsonPath: String?
    /// /proc/loadavg's 1-minute figure before the run: the bench shares its cores.
    let loadBefore = BenchRun.loadAverage()

    init(_ options: BenchOptions, severalPIDs: Bool = false) throws(UsageError) {
        serverPIDs = severalPIDs ? try options.pids() : (try options.pid()).map { [$0] } ?? []
        jsonPath = options.string("json")
    }

    /// Runs `body` on a fresh loop until it calls `done`, with the server's and the bench's
    /// own CPU and memory sampled around it.
    func run(_ body: (EventLoop, _ done: @escaping () -> Void) -> Void) throws -> (servers: [ProcessUsage], bench: ProcessUsage) {
        let serversBefore = serverPIDs.map(ProcessStats.read)
        let benchBefore = ProcessStats.current()
        let loop = try EventLoop()
        body(loop) { loop.schedule(afterMs: Self.closeGraceMs) { loop.stop() } }
        loop.run()
        loop.shutdown()
        let servers = zip(serverPIDs, serversBefore).map { ProcessUsage(pid: $0, before: $1, after: ProcessStats.read(pid: $0)) }
        return (servers, ProcessUsage(pid: getpid(), before: benchBefore, after: ProcessStats.current()))
    }

    static func loadAverage() -> Double? {
        guard let text = try? String(contentsOfFile: "/proc/loadavg", encoding: .utf8) else { return nil }
        return text.split(separator: " ").first.flatMap { Double($0) }
    }

    /// Prints the process lines and adds them to the JSON report, then writes it if asked.
    func report(_ figures: JSONObject, servers: [ProcessUsage], bench: ProcessUsage) {
        var figures = figures
        for server in servers { print(Report.usageLine("server", server)) }
        if servers.count == 1 {
            figures["server"] = Report.usageJSON(servers[0])
        } else if servers.count > 1 {
            figures["servers"] = .array(servers.map(Report.usageJSON))
        }
        print(Report.usageLine("bench ", bench))
        figures["bench_process"] = Report.usageJSON(bench)
        let loadAfter = Self.loadAverage()
        print("load average (1 min): \(loadBefore.map { String($0) } ?? "?") before, \(loadAfter.map { String($0) } ?? "?") after")
        figures["load_before"] = loadBefore.map(JSON.double) ?? .null
        figures["load_after"] = loadAfter.map(JSON.double) ?? .null
        guard let jsonPath else { return }
        do { try Report.write(.object(figures), to: jsonPath) } catch {
            print("could not write \(jsonPath): \(error)")
        }
    }
}
