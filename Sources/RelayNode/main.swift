import Foundation
import Net

// relaynode --config FILE --node ID: starts one node of a cluster config.
Signals.ignoreSIGPIPE()

func fail(_ message: String, code: Int32 = 2) -> Never {
    FileHandle.standardError.write(Data((message + "\n").utf8))
    exit(code)
}

// relaynode admin --config FILE VERB ...: operator commands (AdminCommand.swift).
if CommandLine.arguments.count > 1, CommandLine.arguments[1] == "admin" {
    let status = AdminCommand.run(Array(CommandLine.arguments.dropFirst(2)), out: { print($0) },
                                  err: { FileHandle.standardError.write(Data(($0 + "\n").utf8)) })
    exit(status.rawValue)
}

let options: Options
switch Options.parse(Array(CommandLine.arguments.dropFirst())) {
case .success(let parsed): options = parsed
case .failure(let error):
    if error.description == Options.help { print(Options.help); exit(0) }
    fail("relaynode: \(error)")
}
guard let configPath = options.configPath, let nodeID = options.nodeID else {
    fail("relaynode: --config FILE and --node ID are required; see relaynode --help")
}
let config: ClusterConfig
do { config = try ClusterConfig.load(path: configPath) } catch { fail("relaynode: \(error)") }
guard let me = config.nodes.first(where: { $0.id == nodeID }) else {
    fail("relaynode: node \(nodeID) is not in \(configPath) (nodes: \(config.nodes.map(\.id).joined(separator: ", ")))")
}
var log = Log(node: nodeID)
log.verbose = options.verbose
do {
    let node = try Node(config: config, me: me, dataDirectory: options.dataOverride ?? me.data, join: options.join, log: log)
    try node.run()
} catch {
    fail("relaynode \(nodeID): \(error)", code: 1)
}
