import Replication

/// What survives a crash: the register's acceptor slots, the configs known committed and
/// the ballot counter (`cluster.db`), and every shard copy's committed log and state (the
/// shard files). Written by the `.persist…` actions and by commits, appends and snapshots.
final class NodeDisk {
    var slots: [Int: ConfigAcceptor.Slot] = [:]
    var known: [Int: ShardConfig] = [:]
    var ballotCounter: Int64 = 0
    var shards: [ShardCopy]

    init(shardCount: Int) {
        shards = Array(repeating: ShardCopy(), count: shardCount)
    }
}

/// Who waits for a write's answer on a node.
enum Requester {
    /// The router of this node, for a client connected here (it retries until `deadlineMs`).
    case router(ClientWrite, deadlineMs: Int64)
    /// A peer's router that forwarded the write here.
    case peer(node: Int, requestID: Int, life: Int)
}

/// A write's answer, decided when it was sequenced, held until its entry is committed and
/// then until the replicas hold it (ShardService's `pending` and `waiting`).
struct HeldReply {
    var requester: Requester
    var seq: Int64
    var write: ClientWrite
    /// The entry the reply waits for (set when the turn's batch is committed).
    var lsn: Int64 = 0
}

/// A running process: everything a crash loses. The replica core, each shard's open
/// transaction (this loop turn's writes), the replies waiting for commit or release, the
/// router's forwarded requests, the snapshots being sent.
final class NodeProcess {
    var core: ReplicaCore
    /// Per shard, the writes of the open transaction, committed at the end of the loop turn.
    var batches: [[MessageWrite]]
    /// Per shard, replies waiting for the open transaction to commit.
    var pending: [[HeldReply]]
    /// Per shard, replies committed locally and waiting for the replicas, in LSN order.
    var waiting: [[HeldReply]]
    var dirty = false
    /// Ticks since the process started (the anti-entropy table goes out every few).
    var ticks = 0
    /// Requests this node's router forwarded, by request id.
    var forwards: [Int: (write: ClientWrite, deadlineMs: Int64)] = [:]
    var nextRequestID = 0
    /// Snapshots sent and not answered, by "shard/node": the transfer's id.
    var snapshotsOut: [String: Int] = [:]
    var nextMessageID: Int64

    init(core: ReplicaCore, shardCount: Int, messageIDBase: Int64) {
        self.core = core
        batches = Array(repeating: [], count: shardCount)
        pending = Array(repeating: [], count: shardCount)
        waiting = Array(repeating: [], count: shardCount)
        nextMessageID = messageIDBase
    }
}

/// A node's process state. A paused process keeps everything, and what arrives for it waits
/// (in arrival order) until it resumes.
enum NodeStatus {
    case running(NodeProcess)
    case paused(NodeProcess, backlog: [Event])
    case crashed
}

final class SimNode {
    let index: Int
    let name: String
    let disk: NodeDisk
    var status: NodeStatus = .crashed
    /// Raised by every crash and restart: events addressed to an earlier life are lost.
    var life = 0
    /// Restarts so far (message ids of each life are distinct).
    var restarts = 0

    init(index: Int, name: String, shardCount: Int) {
        self.index = index
        self.name = name
        disk = NodeDisk(shardCount: shardCount)
    }

    var process: NodeProcess? {
        switch status {
        case .running(let p), .paused(let p, _): return p
        case .crashed: return nil
        }
    }

    var isRunning: Bool { if case .running = status { return true } else { return false } }
    var isCrashed: Bool { if case .crashed = status { return true } else { return false } }
    var isPaused: Bool { if case .paused = status { return true } else { return false } }
}
