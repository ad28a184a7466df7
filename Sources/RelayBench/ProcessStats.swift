import Foundation
import Glibc

/// Memory and CPU of a process from /proc (Linux): the server's with `--pid`, and the bench's
/// own, since both share the machine's cores.
struct ProcessStats: Sendable {
    /// VmHWM: the peak resident set since the process started.
    var peakRSSKiB: Int?
    /// VmRSS: the resident set now.
    var rssKiB: Int?
    /// User plus system CPU time consumed so far.
    var cpuSeconds: Double?

    static func read(pid: Int32) -> ProcessStats {
        var stats = ProcessStats()
        if let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) {
            for line in status.split(separator: "\n") {
                let parts = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
                guard parts.count >= 2 else { continue }
                if parts[0] == "VmHWM:" { stats.peakRSSKiB = Int(parts[1]) }
                if parts[0] == "VmRSS:" { stats.rssKiB = Int(parts[1]) }
            }
        }
        if let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
           let close = stat.lastIndex(of: ")") {
            // Fields after "(comm)": state is field 3, utime 14, stime 15 (proc(5)).
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            if fields.count > 12, let user = Double(fields[11]), let system = Double(fields[12]) {
                stats.cpuSeconds = (user + system) / Double(sysconf(Int32(_SC_CLK_TCK)))
            }
        }
        return stats
    }

    static func current() -> ProcessStats { read(pid: getpid()) }
}

/// The figures of one process over a run: CPU spent between two samples, memory at the end.
struct ProcessUsage: Sendable {
    let pid: Int32
    let cpuSeconds: Double?
    let peakRSSKiB: Int?
    let rssKiB: Int?

    init(pid: Int32, before: ProcessStats, after: ProcessStats) {
        self.pid = pid
        if let start = before.cpuSeconds, let end = after.cpuSeconds { cpuSeconds = end - start } else { cpuSeconds = nil }
        peakRSSKiB = after.peakRSSKiB
        rssKiB = after.rssKiB
    }
}
