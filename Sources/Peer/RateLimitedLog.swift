/// A log that writes at most one line per `intervalMs` for each kind of line, and says how many
/// it held back (issue 8: a storm of idle peer connections wrote 5,000 refusal lines in 45 s).
/// A plain value: the caller passes the time in and writes the lines it returns.
///
/// The first line of a kind is written at once; more of that kind within the interval are
/// counted, not written. The next line written for the kind carries the count, and `flush`
/// (from a timer at `nextFlushMs`) writes a summary for a kind whose interval ended with lines
/// held back, so a storm that stops is still reported. Kinds are keyed by text the caller
/// chooses from a small set; at most `maxKinds` are tracked, more share one "other" kind.
public struct RateLimitedLog {
    struct KindState {
        var lastWrittenMs: Int64
        var suppressed: Int
    }

    static let otherKind = "other"

    public let intervalMs: Int64
    public let maxKinds: Int
    /// Lines held back since the start.
    public private(set) var suppressedTotal = 0
    private var kinds: [String: KindState] = [:]

    public init(intervalMs: Int64, maxKinds: Int) {
        precondition(intervalMs > 0 && maxKinds > 0, "RateLimitedLog needs a positive interval and kind bound")
        self.intervalMs = intervalMs
        self.maxKinds = maxKinds
    }

    /// The line to write now, or nil if it is held back.
    public mutating func admit(kind: String, _ line: String, nowMs: Int64) -> String? {
        let kind = trackable(kind, nowMs: nowMs)
        guard var state = kinds[kind] else {
            kinds[kind] = KindState(lastWrittenMs: nowMs, suppressed: 0)
            return line
        }
        guard nowMs - state.lastWrittenMs >= intervalMs || nowMs < state.lastWrittenMs else {
            state.suppressed += 1
            suppressedTotal += 1
            kinds[kind] = state
            return nil
        }
        let written = state.suppressed > 0 ? line + " (\(state.suppressed) more \(kind) lines held back before this)" : line
        kinds[kind] = KindState(lastWrittenMs: nowMs, suppressed: 0)
        return written
    }

    /// Summaries of the kinds whose interval has ended with lines held back, in kind order;
    /// forgets the kinds with nothing to report.
    public mutating func flush(nowMs: Int64) -> [String] {
        var out: [String] = []
        for kind in kinds.keys.sorted() {
            guard let state = kinds[kind], nowMs - state.lastWrittenMs >= intervalMs || nowMs < state.lastWrittenMs else { continue }
            if state.suppressed > 0 {
                out.append("\(state.suppressed) more \(kind) lines held back in the last \((nowMs - state.lastWrittenMs) / 1000) s")
                kinds[kind] = KindState(lastWrittenMs: nowMs, suppressed: 0)
            } else {
                kinds.removeValue(forKey: kind)
            }
        }
        return out
    }

    /// When `flush` next has something to say: the earliest end of an interval with lines
    /// held back, or nil.
    public var nextFlushMs: Int64? {
        kinds.values.filter { $0.suppressed > 0 }.map { $0.lastWrittenMs + intervalMs }.min()
    }

    /// `kind`, or the shared "other" kind once `maxKinds` are tracked (after forgetting those
    /// whose interval ended with nothing held back).
    private mutating func trackable(_ kind: String, nowMs: Int64) -> String {
        if kinds[kind] != nil || kinds.count < maxKinds - 1 || kind == Self.otherKind { return kind }
        for (name, state) in kinds where state.suppressed == 0 && nowMs - state.lastWrittenMs >= intervalMs {
            kinds.removeValue(forKey: name)  // any idle kind will do: each is as good as new
        }
        return kinds.count < maxKinds - 1 ? kind : Self.otherKind
    }
}
