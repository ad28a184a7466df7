// swift-tools-version:6.0
// Relay: a clustered chat backend. Pure protocol modules at the bottom, I/O shells above,
// `relaynode` at the top. No package dependencies: Foundation, Glibc and system SQLite only.
import PackageDescription

let package = Package(
    name: "Relay",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "relaynode", targets: ["RelayNode"]),
        .executable(name: "relay-bench", targets: ["RelayBench"]),
        .executable(name: "relay-sim", targets: ["RelaySim"]),
        .executable(name: "relay", targets: ["RelayCLI"]),
    ],
    targets: [
        // C APIs Glibc does not export: epoll, eventfd, getrandom, libcrypt, SQLite.
        .systemLibrary(name: "CSystem", path: "Sources/CSystem"),

        // Pure modules: no sockets, no clock, no threads.
        .target(name: "Hashing"),
        .target(name: "JSON"),
        .target(name: "HTTPWire", dependencies: ["Hashing"]),
        .target(name: "Ring"),
        .target(name: "Gossip", dependencies: ["Hashing"]),
        .target(name: "Simulation", dependencies: ["Gossip", "Hashing"]),
        // Whole clusters in one process from a seed: the production shells (shard service,
        // replication, router) over a simulated network, disk and clock, with faults and a checker.
        .target(name: "ReplicationSim", dependencies: ["Replication", "Simulation", "Gossip", "Hashing", "Cluster", "Chat",
                                                       "Store", "Ring", "Peer", "Net", "CSystem"]),
        // Runs many seeds of it (scripts/simulate), or replays one.
        .executableTarget(name: "RelaySim", dependencies: ["ReplicationSim"]),
        .target(name: "Wire", dependencies: ["Hashing"]),
        // Replication's pure rules: the per-shard configuration register (majority
        // compare-and-set), log shipping, failover and handover (docs/REPLICATION.md).
        .target(name: "Replication", dependencies: ["Wire", "Hashing"]),

        // Shells: the event loop and sockets, the SQLite store.
        .target(name: "Net", dependencies: ["CSystem"]),
        .target(name: "Store", dependencies: ["CSystem"]),

        // The chat domain: accounts, conversations, messages, receipts.
        .target(name: "Chat", dependencies: ["Store", "Ring", "Hashing", "JSON", "Wire", "CSystem"]),

        // Node-to-node connections: the Wire protocol over Net's TCP.
        .target(name: "Peer", dependencies: ["Net", "Wire", "Hashing"]),

        // The cluster: membership view and ring, routing to shard primaries, the connection
        // directory, shard handoff. Pure views plus shells over Gossip, Peer and Chat.
        .target(name: "Cluster", dependencies: ["Gossip", "Ring", "Peer", "Chat", "Net", "Wire", "Store", "JSON", "Hashing", "Replication"]),

        // Blocking HTTP and WebSocket clients for command lines and worker threads.
        .target(name: "RelayClient", dependencies: ["HTTPWire", "Hashing"]),
        // `relay`: the command-line client (signup, send, listen, groups, uploads, ...).
        .executableTarget(name: "RelayCLI", dependencies: ["RelayClient", "JSON", "Hashing"]),

        .executableTarget(
            name: "RelayNode",
            dependencies: ["Cluster", "Chat", "Net", "HTTPWire", "Ring", "JSON", "Hashing", "Store", "CSystem", "RelayClient"],
            // The web client every node serves at `/`: static files, no build step.
            resources: [.copy("Web")]
        ),
        // The load generator: many WebSocket clients on one event loop, latency histograms.
        .executableTarget(name: "RelayBench", dependencies: ["Net", "HTTPWire", "JSON", "Hashing"]),

        .testTarget(name: "HashingTests", dependencies: ["Hashing"]),
        .testTarget(name: "JSONTests", dependencies: ["JSON"]),
        .testTarget(name: "HTTPWireTests", dependencies: ["HTTPWire", "Hashing"]),
        .testTarget(name: "RingTests", dependencies: ["Ring", "Hashing"]),
        .testTarget(name: "GossipTests", dependencies: ["Gossip", "Simulation", "Hashing"]),
        .testTarget(name: "ReplicationSimulationTests", dependencies: ["ReplicationSim", "Replication"]),
        .testTarget(name: "WireTests", dependencies: ["Wire", "Hashing"]),
        .testTarget(name: "ReplicationTests", dependencies: ["Replication", "Wire"]),
        .testTarget(name: "NetTests", dependencies: ["Net", "CSystem"]),
        .testTarget(name: "StoreTests", dependencies: ["Store"]),
        .testTarget(name: "ChatTests", dependencies: ["Chat", "Store", "Ring", "JSON", "Wire"]),
        .testTarget(name: "PeerTests", dependencies: ["Peer", "Net", "Wire"]),
        .testTarget(name: "RelayBenchTests", dependencies: ["RelayBench"]),
        .testTarget(name: "ClusterTests", dependencies: ["Cluster", "Gossip", "Ring", "Chat", "Wire", "Net", "Hashing"]),
    ]
)
