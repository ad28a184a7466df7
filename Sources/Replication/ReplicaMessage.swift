import Wire

/// The register's messages between nodes (one-way; answers are messages too). Log entries
/// travel separately (the shell reads them from the shard's store).
public enum ReplicaMessage: Sendable, Equatable {
    case prepare(shard: Int, ballot: Ballot)
    case promise(shard: Int, ballot: Ballot, answer: ConfigAcceptor.PrepareAnswer)
    case accept(shard: Int, ballot: Ballot, config: ShardConfig)
    case accepted(shard: Int, ballot: Ballot, ok: Bool)
    /// A change committed: every node learns the shard's new config.
    case learn(shard: Int, config: ShardConfig)
    /// Every config a node knows to be committed (sent when a peer connection comes up).
    case table([ShardEntry])

    public struct ShardEntry: Sendable, Equatable {
        public var shard: Int
        public var config: ShardConfig
        public init(shard: Int, config: ShardConfig) { self.shard = shard; self.config = config }
    }
}

/// Binary form: a kind byte, then the fields big-endian; node ids as short strings.
public enum ReplicaCodec {
    public struct Malformed: Error, CustomStringConvertible {
        public let description: String
    }

    static let maxNodeBytes = 255
    static let maxIsr = 64
    static let maxTable = 1 << 16

    public static func encode(_ message: ReplicaMessage) -> [UInt8] {
        var w = WireWriter(reservingCapacity: 64)
        switch message {
        case .prepare(let shard, let ballot):
            w.writeU8(1); w.writeU32(UInt32(shard)); put(ballot, &w)
        case .promise(let shard, let ballot, let answer):
            w.writeU8(2); w.writeU32(UInt32(shard)); put(ballot, &w)
            switch answer {
            case .promise(let config, let acceptedBallot):
                w.writeU8(config == nil ? 0 : 1)
                if let config { put(config, &w) }
                put(acceptedBallot, &w)
            case .reject(let promised):
                w.writeU8(2); put(promised, &w)
            }
        case .accept(let shard, let ballot, let config):
            w.writeU8(3); w.writeU32(UInt32(shard)); put(ballot, &w); put(config, &w)
        case .accepted(let shard, let ballot, let ok):
            w.writeU8(4); w.writeU32(UInt32(shard)); put(ballot, &w); w.writeU8(ok ? 1 : 0)
        case .learn(let shard, let config):
            w.writeU8(5); w.writeU32(UInt32(shard)); put(config, &w)
        case .table(let entries):
            w.writeU8(6); w.writeU32(UInt32(entries.count))
            for e in entries { w.writeU32(UInt32(e.shard)); put(e.config, &w) }
        }
        return w.bytes
    }

    public static func decode(_ bytes: [UInt8], maxShard: Int) throws -> ReplicaMessage {
        var r = WireReader(bytes)
        func shard() throws -> Int {
            let s = Int(try r.readU32())
            guard s < maxShard else { throw Malformed(description: "shard \(s) out of range") }
            return s
        }
        let message: ReplicaMessage
        switch try r.readU8() {
        case 1: message = .prepare(shard: try shard(), ballot: try ballot(&r))
        case 2:
            let s = try shard(), b = try ballot(&r)
            switch try r.readU8() {
            case 0: message = .promise(shard: s, ballot: b, answer: .promise(accepted: nil, acceptedBallot: try ballot(&r)))
            case 1:
                let c = try config(&r)
                message = .promise(shard: s, ballot: b, answer: .promise(accepted: c, acceptedBallot: try ballot(&r)))
            case 2: message = .promise(shard: s, ballot: b, answer: .reject(promised: try ballot(&r)))
            default: throw Malformed(description: "bad promise kind")
            }
        case 3:
            let s = try shard(), b = try ballot(&r)
            message = .accept(shard: s, ballot: b, config: try config(&r))
        case 4:
            let s = try shard(), b = try ballot(&r)
            message = .accepted(shard: s, ballot: b, ok: try r.readU8() == 1)
        case 5:
            let s = try shard()
            message = .learn(shard: s, config: try config(&r))
        case 6:
            let count = Int(try r.readU32())
            guard count <= min(maxTable, maxShard) else { throw Malformed(description: "table too long") }
            var entries: [ReplicaMessage.ShardEntry] = []
            for _ in 0..<count {
                let s = try shard()
                entries.append(.init(shard: s, config: try config(&r)))
            }
            message = .table(entries)
        default: throw Malformed(description: "unknown register message")
        }
        try r.expectEnd()
        return message
    }

    private static func put(_ b: Ballot, _ w: inout WireWriter) {
        w.writeU64(UInt64(bitPattern: b.counter)); w.writeShortString(b.node)
    }
    private static func put(_ c: ShardConfig, _ w: inout WireWriter) {
        w.writeU64(UInt64(bitPattern: c.epoch)); w.writeShortString(c.primary)
        w.writeU8(UInt8(c.isr.count))
        for n in c.isr { w.writeShortString(n) }
    }
    private static func ballot(_ r: inout WireReader) throws -> Ballot {
        Ballot(counter: Int64(bitPattern: try r.readU64()), node: try r.readShortString(maxBytes: maxNodeBytes))
    }
    private static func config(_ r: inout WireReader) throws -> ShardConfig {
        let epoch = Int64(bitPattern: try r.readU64())
        let primary = try r.readShortString(maxBytes: maxNodeBytes)
        let count = Int(try r.readU8())
        guard count <= maxIsr else { throw Malformed(description: "isr too long") }
        var isr: [String] = []
        for _ in 0..<count { isr.append(try r.readShortString(maxBytes: maxNodeBytes)) }
        return ShardConfig(epoch: epoch, primary: primary, isr: isr)
    }
}
