/// Who serves a shard: its epoch (the shard's term, raised by every change), its primary, and
/// its in-sync replicas (the nodes holding every acknowledged log entry, the primary too).
public struct ShardConfig: Sendable, Equatable, CustomStringConvertible {
    public var epoch: Int64
    public var primary: String
    public var isr: [String]

    public init(epoch: Int64, primary: String, isr: [String]) {
        self.epoch = epoch
        self.primary = primary
        self.isr = isr
    }

    public var description: String { "e\(epoch) \(primary) isr=\(isr.joined(separator: ","))" }
}

/// A proposer's ballot: unique (the node id breaks ties) and totally ordered.
public struct Ballot: Sendable, Hashable, Comparable, CustomStringConvertible {
    public var counter: Int64
    public var node: String
    public init(counter: Int64, node: String) { self.counter = counter; self.node = node }
    public static let zero = Ballot(counter: 0, node: "")
    public static func < (a: Ballot, b: Ballot) -> Bool { (a.counter, a.node) < (b.counter, b.node) }
    public var description: String { "\(counter).\(node)" }
}
