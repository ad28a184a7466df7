import Chat
import Foundation
import JSON
import Store

/// One node of a cluster config (DESIGN.md "Processes and ports").
struct NodeConfig: Equatable {
    var id: String
    var client: Address
    var peer: Address
    var gossip: Address
    var data: String
    /// False for a node listed for later: not a founder of the ring, joins with --join.
    var initial: Bool = true
}

struct Address: Equatable, CustomStringConvertible {
    var host: String
    var port: Int
    var description: String { "\(host):\(port)" }

    init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    /// "host:port", IPv4 or a name.
    init?(_ text: String) {
        guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]),
              port > 0, port < 65_536 else { return nil }
        host = String(text[..<colon])
        self.port = port
        if host.isEmpty { return nil }
    }
}

/// A cluster config file: the keys operators and tools rely on keep their meaning.
struct ClusterConfig: Equatable {
    var cluster: String
    var secret: String
    var shards: Int
    var replication: Int
    var nodes: [NodeConfig]
    /// `synchronous` for the shard files: "normal" (survives kill -9) or "full" (power loss).
    var durability: Durability
    /// Log entries each shard keeps so a lagging replica can catch up without a snapshot.
    var logEntries: Int64 = ShardStore.defaultLogEntries
    /// The most members a group may have (`max_group_members`).
    var maxGroupMembers: Int = ChatSettings.defaultMaxGroupMembers
    /// Who charges tips and where users top up (BillingConfig.swift).
    var billing = BillingConfig()
    /// Where notifications are pushed besides the in-app list (nil: in-app only).
    var pushGateway: PushGatewayConfig?
    /// Days a moderation log entry is kept (docs/OPERATIONS.md "Moderation log").
    var moderationLogDays: Int = BlockLimits.defaultRetentionDays
    var moderationLogRetentionMs: Int64 { Int64(moderationLogDays) * 86_400_000 }
    /// yescrypt's cost for new password hashes: 0 is libcrypt's default (5, ~20 ms); tests
    /// and benchmarks that sign up thousands of users lower it (docs/OPERATIONS.md).
    var passwordHashCost: UInt = Yescrypt.cost
    /// Assets (docs/ASSETS.md): the largest upload (`max_asset_bytes`, default 64 MiB) and how
    /// long an asset no message carries is kept (`asset_grace_s`, default a day).
    var maxAssetBytes: Int = 64 << 20
    var assetGraceS: Int64 = 86_400

    static func load(path: String) throws(ConfigError) -> ClusterConfig {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ConfigError("cannot read config file \(path)")
        }
        let json: JSON
        do { json = try JSON.parse(Array(data)) } catch { throw ConfigError("\(path): not valid JSON: \(error)") }
        return try parse(json, source: path)
    }

    static func parse(_ json: JSON, source: String) throws(ConfigError) -> ClusterConfig {
        guard let o = json.objectValue else { throw ConfigError("\(source): the config is a JSON object") }
        func string(_ key: String, in o: JSONObject, _ what: String) throws(ConfigError) -> String {
            guard let value = o[key]?.stringValue, !value.isEmpty else { throw ConfigError("\(source): \(what) needs \"\(key)\" (a string)") }
            return value
        }
        func address(_ key: String, in o: JSONObject, _ what: String) throws(ConfigError) -> Address {
            let text = try string(key, in: o, what)
            guard let address = Address(text) else { throw ConfigError("\(source): \(what) \"\(key)\" is not HOST:PORT: \(text)") }
            return address
        }
        let cluster = try string("cluster", in: o, "the config")
        let secret = try string("secret", in: o, "the config")
        let shards = Int(o["shards"]?.intValue ?? 128)
        guard shards > 0, shards <= 65_536, shards & (shards - 1) == 0 else {
            throw ConfigError("\(source): \"shards\" must be a power of two up to 65536")
        }
        let replication = Int(o["replication"]?.intValue ?? 2)
        guard (1...5).contains(replication) else { throw ConfigError("\(source): \"replication\" must be 1 to 5") }
        let durabilityName = o["synchronous"]?.stringValue ?? "normal"
        guard let durability = Durability(rawValue: durabilityName.uppercased()) else {
            throw ConfigError("\(source): \"synchronous\" is \"normal\" or \"full\"")
        }
        guard let list = o["nodes"]?.arrayValue, !list.isEmpty else { throw ConfigError("\(source): \"nodes\" lists at least one node") }
        var nodes: [NodeConfig] = []
        for (i, item) in list.enumerated() {
            guard let n = item.objectValue else { throw ConfigError("\(source): nodes[\(i)] is an object") }
            let what = "nodes[\(i)]"
            let node = NodeConfig(id: try string("id", in: n, what), client: try address("client", in: n, what),
                                  peer: try address("peer", in: n, what), gossip: try address("gossip", in: n, what),
                                  data: try string("data", in: n, what), initial: n["initial"]?.boolValue ?? true)
            if nodes.contains(where: { $0.id == node.id }) { throw ConfigError("\(source): node id \(node.id) appears twice") }
            nodes.append(node)
        }
        let logEntries = o["log_entries"]?.intValue ?? ShardStore.defaultLogEntries
        guard (16...10_000_000).contains(logEntries) else { throw ConfigError("\(source): \"log_entries\" must be 16 to 10000000") }
        let moderationLogDays = o["moderation_log_days"]?.intValue ?? Int64(BlockLimits.defaultRetentionDays)
        guard (1...3_650).contains(moderationLogDays) else { throw ConfigError("\(source): \"moderation_log_days\" must be 1 to 3650") }
        let passwordHashCost = o["password_hash_cost"]?.intValue ?? Int64(Yescrypt.cost)
        guard (0...11).contains(passwordHashCost) else { throw ConfigError("\(source): \"password_hash_cost\" must be 0 (the default) to 11") }
                let maxGroupMembers = o["max_group_members"]?.intValue ?? Int64(ChatSettings.defaultMaxGroupMembers)
        guard (2...1_000_000).contains(maxGroupMembers) else { throw ConfigError("\(source): \"max_group_members\" must be 2 to 1000000") }
        var config = ClusterConfig(cluster: cluster, secret: secret, shards: shards, replication: replication, nodes: nodes,
                                   durability: durability, logEntries: logEntries, maxGroupMembers: Int(maxGroupMembers),
                                   moderationLogDays: Int(moderationLogDays), passwordHashCost: UInt(passwordHashCost))
        config.billing = try BillingConfig.parse(o["billing"], source: source)
        // Assets (docs/ASSETS.md).
        config.maxAssetBytes = Int(o["max_asset_bytes"]?.intValue ?? 64 << 20)
        guard (1...(1 << 40)).contains(config.maxAssetBytes) else { throw ConfigError("\(source): \"max_asset_bytes\" must be 1 to 2^40") }
        config.assetGraceS = o["asset_grace_s"]?.intValue ?? 86_400
        guard (1...(10 * 365 * 86_400)).contains(config.assetGraceS) else { throw ConfigError("\(source): \"asset_grace_s\" must be 1 to 315360000") }
        config.pushGateway = try PushGatewayConfig.parse(o["push_gateway"], source: source)
        return config
    }
}

struct ConfigError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
