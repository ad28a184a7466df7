/// Command-line flags of `relaynode`.
struct Options {
    var configPath: String?
    var nodeID: String?
    var join: String?
    var dataOverride: String?
    var verbose = false

    static let help = """
        relaynode: one node of a Relay chat cluster.

        Usage: relaynode --config FILE --node ID [--join HOST:PORT] [--data DIR] [--verbose]
               relaynode admin --config FILE VERB ...   (operator commands; relaynode admin --help)

          --config FILE     the cluster config (JSON; see cluster-configs/): cluster name,
                            shared secret, shard count, replication factor and the nodes
                            with their client, peer and gossip addresses and data folders.
          --node ID         which node of the config this process is.
          --join HOST:PORT  the gossip address of any member of a running cluster to join
                            (for a node added after the cluster started).
          --data DIR        the data folder, instead of the node's "data" in the config.
                            A relative path is resolved from the current folder.
          --verbose         log every request.
          --help            this text.

        The node serves HTTP and WebSocket clients on its client address (PROTOCOL.md),
        other nodes on its peer address, and gossip on its gossip address (UDP).
        SIGTERM or SIGINT stop it after committing what it has accepted.
        """

    static func parse(_ args: [String]) -> Result<Options, ConfigError> {
        var options = Options()
        var i = 0
        func value(_ flag: String) -> String? {
            i += 1
            return i < args.count ? args[i] : nil
        }
        while i < args.count {
            let arg = args[i]
            switch arg {
            case "--help", "-h": return .failure(ConfigError(help))
            case "--config":
                guard let v = value(arg) else { return .failure(ConfigError("--config needs a file")) }
                options.configPath = v
            case "--node":
                guard let v = value(arg) else { return .failure(ConfigError("--node needs an id")) }
                options.nodeID = v
            case "--join":
                guard let v = value(arg) else { return .failure(ConfigError("--join needs HOST:PORT")) }
                options.join = v
            case "--data":
                guard let v = value(arg) else { return .failure(ConfigError("--data needs a folder")) }
                options.dataOverride = v
            case "--verbose", "-v": options.verbose = true
            default: return .failure(ConfigError("unknown flag \(arg); see relaynode --help"))
            }
            i += 1
        }
        return .success(options)
    }
}
