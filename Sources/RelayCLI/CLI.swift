import Foundation
import JSON

/// One run of `relay`: global options, the command, its arguments, and how it prints.
final class CLI {
    static let usage = """
    relay: a command-line client for a Relay cluster

      relay [--cluster CONFIG | --node URL] [--json] [--config FILE] COMMAND ...

      signup USER [--password P] [--display-name NAME]     create an account and sign in
      login USER [--password P] [--device NAME]            sign in (token kept in FILE, mode 0600)
      logout | whoami
      send (USER | --conversation ID) TEXT... [--client-id ID] [--kind K] [--attach ASSET]...
      listen [--count N] [--seconds S]                     live messages; reconnects and resumes
      history CONVERSATION [--limit N] [--before SEQ]
      conversations
      group create TITLE [--members a,b] | add ID USER | remove ID USER
            | invite ID [--max-uses N] [--expires-in S] | join CODE | show ID
      block USER [--undo]
      list create NAME [--members a,b] | add ID USER | send ID TEXT... [--client-id ID] | show
      upload FILE [--type MIME]                            prints the asset id
      download ASSET [-o FILE]
      tip USER CENTS [TEXT...] [--currency USD] [--client-id ID]

    The password comes from --password, else RELAY_PASSWORD, else the first line of stdin.
    Exit codes: 0 done, 1 refused by the server, 2 bad command line, 3 no node reachable,
    4 not signed in. --json prints one JSON object per line.
    """

    var words: [String] = []
    var options: [String: [String]] = [:]
    var flags: Set<String> = []
    var json = false
    var statePath = CLIState.defaultPath()
    var state = CLIState()
    var client: ClusterClient!

    /// Options that take a value; anything else starting with -- is a flag.
    static let valued: Set<String> = ["--cluster", "--node", "--config", "--password", "--display-name", "--device",
                                      "--conversation", "--client-id", "--kind", "--attach", "--count", "--seconds",
                                      "--limit", "--before", "--members", "--max-uses", "--expires-in", "--type", "-o",
                                      "--currency", "--timeout"]

    init(_ args: [String]) throws(CLIError) {
        var i = 0
        while i < args.count {
            let a = args[i]
            if a == "--" { words += args[(i + 1)...]; break }
            if Self.valued.contains(a) {
                guard i + 1 < args.count else { throw .usage("\(a) needs a value") }
                options[a, default: []].append(args[i + 1])
                i += 2
                continue
            }
            if a.hasPrefix("--") {
                guard ["--json", "--undo", "--help"].contains(a) else { throw .usage("unknown option \(a)") }
                flags.insert(a)
            } else {
                words.append(a)
            }
            i += 1
        }
        json = flags.contains("--json")
        if let path = options["--config"]?.last { statePath = path }
        state = CLIState.load(statePath)
        var nodes = state.nodes
        if let config = options["--cluster"]?.last { nodes = try Self.nodes(fromConfig: config) }
        if let node = options["--node"]?.last {
            let url = node.hasPrefix("http://") ? node : "http://" + node
            nodes = [url] + nodes.filter { $0 != url }
        }
        if nodes.isEmpty { nodes = ["http://127.0.0.1:7001"] }
        let timeout = Int(option("--timeout") ?? "") ?? 15
        client = ClusterClient(nodes: nodes, token: state.token, timeoutMs: timeout * 1000)
    }

    static func nodes(fromConfig path: String) throws(CLIError) -> [String] {
        guard let data = FileManager.default.contents(atPath: path), let json = try? JSON.parse([UInt8](data)) else {
            throw .usage("cannot read the cluster config \(path)")
        }
        let nodes = json["nodes"]?.arrayValue?.compactMap { $0["client"]?.stringValue }.map { "http://" + $0 } ?? []
        guard !nodes.isEmpty else { throw .usage("\(path) lists no nodes with a client address") }
        return nodes
    }

    func option(_ name: String) -> String? { options[name]?.last }

    func intOption(_ name: String) throws(CLIError) -> Int64? {
        guard let text = option(name) else { return nil }
        guard let n = Int64(text), n >= 0 else { throw .usage("\(name) takes a non-negative integer") }
        return n
    }

    func word(_ i: Int, _ what: String) throws(CLIError) -> String {
        guard i < words.count else { throw .usage("missing \(what); see relay --help") }
        return words[i]
    }

    func rest(from i: Int, _ what: String) throws(CLIError) -> String {
        guard i < words.count else { throw .usage("missing \(what)") }
        return words[i...].joined(separator: " ")
    }

    /// Prints a result: the JSON object in --json mode, else `human`.
    func print(_ value: JSON, _ human: @autoclosure () -> String) {
        let line = (json ? value.serialized() : human()) + "\n"
        FileHandle.standardOutput.write(Data(line.utf8))
    }

    func saveState() throws(CLIError) {
        state.nodes = client.nodes
        do { try state.save(statePath) } catch { throw .usage("\(error)") }
    }

    func run() throws(CLIError) {
        if flags.contains("--help") || words.isEmpty { Swift.print(Self.usage); return }
        switch words[0] {
        case "signup": try signup()
        case "login": try login()
        case "logout": try logout()
        case "whoami": try whoami()
        case "send": try send()
        case "listen": try listen()
        case "history": try history()
        case "conversations": try conversations()
        case "group": try group()
        case "block": try block()
        case "list": try list()
        case "upload": try upload()
        case "download": try download()
        case "tip": try tip()
        default: throw .usage("unknown command \(words[0]); see relay --help")
        }
    }

    static func newClientID() -> String {
        "cli-" + String(UInt64.random(in: 0...UInt64.max), radix: 16)
    }
}
