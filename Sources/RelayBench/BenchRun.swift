import Foundation
import JSON
import Net

/// What every subcommand shares: the event loop it runs on, the server process it watches,
/// and the JSON file it writes.
struct BenchRun {
    /// After a bench finishes, the loop keeps turning this long so Close frames get out.
    static let closeGraceMs: Int64 = 100

    let serverPID: Int32?
    let jsonPath: String?
    /// /proc/loadavg's 1-minute figure before the run: the bench shares its cores.
    let loadBefore = BenchRun.loadAverage()

    init(_ options: BenchOptions) throws(UsageError) {
        serverPID = try options.pid()
        jsonPath = options.string("json")
    }

    /// Runs `body` on a fresh loop until it calls `done`, with the server's and the bench's
    /// own CPU and memory sampled around it.
    func run(_ body: (EventLoop, _ done: @escaping () -> Void) -> Void) throws -> (server: ProcessUsage?, bench: ProcessUsage) {
        let serverBefore = serverPID.map(ProcessStats.read)
        let benchBefore = ProcessStats.current()
        let loop = try EventLoop()
        body(loop) { loop.schedule(afterMs: Self.closeGraceMs) { loop.stop() } }
        loop.run()
        loop.shutdown()
        let server = serverPID.map { ProcessUsage(pid: $0, before: serverBefore ?? ProcessStats(), after: ProcessStats.read(pid: $0)) }
        return (server, ProcessUsage(pid: getpid(), before: benchBefore, after: ProcessStats.current()))
    }

    static func loadAverage() -> Double? {
        guard let text = try? String(contentsOfFile: "/proc/loadavg", encoding: .utf8) else { return nil }
        return text.split(separator: " ").first.flatMap { Double($0) }
    }

    /// Prints the process lines and adds them to the JSON report, then writes it if asked.
    func report(_ figures: JSONObject, server: ProcessUsage?, bench: ProcessUsage) {
        var figures = figures
        if let server {
            print(Report.usageLine("server", server))
            figures["server"] = Report.usageJSON(server)
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
