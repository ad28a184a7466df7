/// What happened in a run, line by line: the nodes' `.log` actions, faults, client outcomes.
/// Verbose runs print every line as it happens; otherwise the last `keepLines` are kept
/// for the failure report.
public struct Trace {
    /// Lines kept for a failure report: about the last few seconds of a busy run.
    public static let keepLines = 400

    public let verbose: Bool
    public var sink: (String) -> Void
    private var ring: [String] = []
    private var next = 0

    public init(verbose: Bool, sink: @escaping (String) -> Void = { print($0) }) {
        self.verbose = verbose
        self.sink = sink
    }

    public mutating func add(_ ms: Int64, _ who: String, _ text: String) {
        let line = "\(ms)ms \(who): \(text)"
        if verbose { sink(line) }
        if ring.count < Self.keepLines {
            ring.append(line)
        } else {
            ring[next] = line
            next = (next + 1) % Self.keepLines
        }
    }

    /// The kept lines, oldest first.
    public var tail: [String] { Array(ring[next...] + ring[..<next]) }
}
