import Chat
import Cluster
import Net
import Peer
import Replication
import Store

/// What survives a crash: every shard's committed database and the node's `cluster.db`
/// (acceptor slots, known configs, ballot counter), all in memory. Written only by the
/// production code's commits, appends, snapshots and persist actions.
final class NodeDisk {
    let files: ShardFiles
    let config: ConfigStore

    init(name: String, keepLogEntries: Int64) {
        files = ShardFiles(memory: name, keepLogEntries: keepLogEntries)
        // A memory database: durable for the simulation, which never loses a commit.
        config = try! ConfigStore(path: ":memory:", durability: .normal)
    }
}

/// A running process: the production shells (`ShardService`, `Replicator`, `ClusterRouter`,
/// `PeerDispatch`) over the simulated clock (`timers`) and network (`peer`). Everything here
/// is lost by a crash; the disk is not.
final class NodeProcess {
    let timers: SimTimers
    let peer: SimPeer
    let service: ShardService
    let replicator: Replicator
    let router: ClusterRouter
    let dispatch: PeerDispatch
    /// The membership as this node's gossip would show it (built from the oracle's view).
    let views: ViewBox
    /// Kept alive with the process: the shells hold it weakly.
    var watcher: NodeWatcher?
    /// Direct chats this process knows exist (the front's `openDirects`).
    var openChats: Set<Int> = []

    init(timers: SimTimers, peer: SimPeer, service: ShardService, replicator: Replicator, router: ClusterRouter,
         dispatch: PeerDispatch, views: ViewBox) {
        self.timers = timers
        self.peer = peer
        self.service = service
        self.replicator = replicator
        self.router = router
        self.dispatch = dispatch
        self.views = views
    }

    var core: ReplicaCore { replicator.core }
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

    init(index: Int, name: String, keepLogEntries: Int64) {
        self.index = index
        self.name = name
        disk = NodeDisk(name: name, keepLogEntries: keepLogEntries)
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
