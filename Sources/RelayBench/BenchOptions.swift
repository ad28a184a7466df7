import Foundation

/// A command-line mistake: the message is printed with the usage text, exit status 2.
struct UsageError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// `--flag value` pairs after the subcommand, checked against the flags it knows.
struct BenchOptions {
    private var values: [String: String] = [:]

    init(_ args: ArraySlice<String>, known: Set<String>) throws(UsageError) {
        var index = args.startIndex
        while index < args.endIndex {
            let flag = args[index]
            guard flag.hasPrefix("--"), known.contains(String(flag.dropFirst(2))) else {
                throw UsageError("unknown flag \(flag)")
            }
            let next = args.index(after: index)
            guard next < args.endIndex else { throw UsageError("\(flag) needs a value") }
            values[String(flag.dropFirst(2))] = args[next]
            index = args.index(after: next)
        }
    }

    func string(_ name: String) -> String? { values[name] }

    func nodes() throws(UsageError) -> [Endpoint] {
        guard let text = values["nodes"] else { throw UsageError("--nodes HOST:PORT[,HOST:PORT...] is required") }
        guard let list = Endpoint.list(text) else { throw UsageError("--nodes: \(text) is not a list of IP:PORT") }
        return list
    }

    func int(_ name: String, default fallback: Int, range: ClosedRange<Int>) throws(UsageError) -> Int {
        guard let text = values[name] else { return fallback }
        guard let value = Int(text.replacingOccurrences(of: "_", with: "")), range.contains(value) else {
            throw UsageError("--\(name) must be an integer in \(range.lowerBound)...\(range.upperBound)")
        }
        return value
    }

    func seconds(_ name: String, default fallback: Double?) throws(UsageError) -> Double? {
        guard let text = values[name] else { return fallback }
        guard let value = Double(text), value > 0, value <= 86_400 else { throw UsageError("--\(name) must be seconds > 0") }
        return value
    }

    /// `--rate R` or `R/s` messages per second per sender, or `unlimited` (nil).
    func rate() throws(UsageError) -> Double? {
        guard let text = values["rate"], text != "unlimited" else { return nil }
        let number = text.hasSuffix("/s") ? String(text.dropLast(2)) : text
        guard let value = Double(number), value > 0, value <= 1_000_000 else {
            throw UsageError("--rate is messages per second per sender (e.g. 50 or 50/s) or unlimited")
        }
        return value
    }

    func pid() throws(UsageError) -> Int32? {
        guard let text = values["pid"] else { return nil }
        guard let pid = Int32(text), pid > 0 else { throw UsageError("--pid must be a process id") }
        return pid
    }

    /// `--pid PID[,PID...]`: one server per node of a cluster.
    func pids() throws(UsageError) -> [Int32] {
        guard let text = values["pid"] else { return [] }
        let parts = text.split(separator: ",", omittingEmptySubsequences: false)
        let pids = parts.compactMap { Int32($0) }.filter { $0 > 0 }
        guard pids.count == parts.count else { throw UsageError("--pid must be a process id or a comma-separated list of them") }
        return pids
    }
}
