import Foundation
import RelayClient

/// `relaynode admin --config FILE VERB ...`: operator commands over HTTP. Reads the cluster
/// config the nodes use, takes its secret as the operator's bearer token, and calls the first
/// node of the config that answers, trying the next when one is down or unavailable
/// (docs/OPERATIONS.md "Operator commands").
struct AdminCommand {
    static let help = """
        relaynode admin: operator commands against a running cluster.

        Usage: relaynode admin --config FILE VERB ARGS... [--timeout-ms N]

          credit USER CENTS [--key KEY]        add CENTS to USER's wallet balance; prints the
                                               wallet. Retries inside one run credit once; give
                                               --key to make a rerun of the command safe too.
          revoke-sessions USER                 every token of USER stops working on every node
                                               and their WebSockets close.
          moderation-log USER                  prints USER's moderation log (JSON).
          job OWNER LIST_ID CLIENT_ID          prints the progress of OWNER's mass message
                                               CLIENT_ID to list LIST_ID (JSON).

          --config FILE     the cluster config (the same JSON the nodes use): its nodes' client
                            addresses and its secret, which is the operator's credential.
          --timeout-ms N    how long to wait for each node (default 5000).
          --help            this text.

        Exit status: 0 done; 1 the cluster refused (the error is printed); 2 bad usage or
        config; 3 no node of the config answered.
        """

    enum Exit: Int32 {
        case ok = 0, refused = 1, usage = 2, unreachable = 3
    }

    /// What one verb asks of a node.
    struct Request {
        var method: String
        var path: String
        var body: [UInt8] = []
    }

    static let defaultTimeoutMs = 5_000

    /// Runs the command; returns the exit status. `out` and `err` are where it prints.
    static func run(_ args: [String], out: (String) -> Void, err: (String) -> Void) -> Exit {
        var configPath: String?, key: String?, timeoutMs = defaultTimeoutMs
        var words: [String] = []
        var i = 0
        while i < args.count {
            let arg = args[i]
            func value() -> String? {
                i += 1
                return i < args.count ? args[i] : nil
            }
            switch arg {
            case "--help", "-h":
                out(help)
                return .ok
            case "--config":
                guard let v = value() else { err("relaynode admin: --config needs a file"); return .usage }
                configPath = v
            case "--key":
                guard let v = value(), !v.isEmpty, v.utf8.count <= 100 else { err("relaynode admin: --key needs a key (1 to 100 bytes)"); return .usage }
                key = v
            case "--timeout-ms":
                guard let v = value(), let n = Int(v), (50...600_000).contains(n) else {
                    err("relaynode admin: --timeout-ms needs milliseconds (50 to 600000)"); return .usage
                }
                timeoutMs = n
            default:
                if arg.hasPrefix("--") { err("relaynode admin: unknown flag \(arg); see relaynode admin --help"); return .usage }
                words.append(arg)
            }
            i += 1
        }
        guard let configPath else { err("relaynode admin: --config FILE is required; see relaynode admin --help"); return .usage }
        let request: Request
        switch makeRequest(words, key: key) {
        case .success(let made): request = made
        case .failure(let usage):
            err("relaynode admin: \(usage.description); see relaynode admin --help")
            return .usage
        }
        let config: ClusterConfig
        do { config = try ClusterConfig.load(path: configPath) } catch {
            err("relaynode admin: \(error)")
            return .usage
        }
        return send(request, config: config, timeoutMs: timeoutMs, out: out, err: err)
    }

    /// The HTTP request of a verb and its arguments.
    static func makeRequest(_ words: [String], key: String?) -> Result<Request, ConfigError> {
        guard let verb = words.first else { return .failure(ConfigError("a verb is required (credit, revoke-sessions, moderation-log, job)")) }
        let args = Array(words.dropFirst())
        func expect(_ n: Int, _ usage: String) -> ConfigError? {
            args.count == n ? nil : ConfigError("usage: \(verb) \(usage)")
        }
        if key != nil, verb != "credit" { return .failure(ConfigError("--key is for credit only")) }
        switch verb {
        case "credit":
            if let error = expect(2, "USER CENTS") { return .failure(error) }
            guard let cents = Int64(args[1]), cents > 0 else { return .failure(ConfigError("CENTS must be a positive integer, not \(args[1])")) }
            // One key per run: a retry at another node after a lost answer credits once.
            let body: [String: Any] = ["user": args[0], "amount_cents": cents, "idempotency_key": key ?? "admin-" + UUID().uuidString]
            return .success(Request(method: "POST", path: "/v1/admin/credit", body: json(body)))
        case "revoke-sessions":
            if let error = expect(1, "USER") { return .failure(error) }
            return .success(Request(method: "POST", path: "/v1/admin/users/\(segment(args[0]))/revoke-sessions"))
        case "moderation-log":
            if let error = expect(1, "USER") { return .failure(error) }
            return .success(Request(method: "GET", path: "/v1/admin/users/\(segment(args[0]))/moderation"))
        case "job":
            if let error = expect(3, "OWNER LIST_ID CLIENT_ID") { return .failure(error) }
            return .success(Request(method: "GET",
                                    path: "/v1/admin/users/\(segment(args[0]))/lists/\(segment(args[1]))/messages/\(segment(args[2]))"))
        default:
            return .failure(ConfigError("unknown verb \(verb) (verbs: credit, revoke-sessions, moderation-log, job)"))
        }
    }

    /// Tries each node of the config in order until one answers (a 503 counts as not
    /// answering: that node cannot serve now, another may).
    static func send(_ request: Request, config: ClusterConfig, timeoutMs: Int, out: (String) -> Void, err: (String) -> Void) -> Exit {
        var failures: [String] = []
        var lastUnavailable: BlockingHTTPClient.Answer?
        for node in config.nodes {
            let client = BlockingHTTPClient(host: node.client.host, port: node.client.port, timeoutMs: timeoutMs)
            var headers = [("Authorization", "Bearer " + config.secret)]
            if !request.body.isEmpty { headers.append(("Content-Type", "application/json")) }
            switch client.call(request.method, request.path, headers: headers, body: request.body) {
            case .failure(let failure):
                failures.append("\(node.id) (\(node.client)): \(failure)")
            case .success(let answer) where answer.status == 503:
                failures.append("\(node.id) (\(node.client)): unavailable: \(answer.text)")
                lastUnavailable = answer
            case .success(let answer) where (200..<300).contains(answer.status):
                out(answer.text.isEmpty ? "{}" : answer.text)
                return .ok
            case .success(let answer):
                err("relaynode admin: \(node.id) answered \(answer.status): \(answer.text)")
                return .refused
            }
        }
        if let lastUnavailable {
            err("relaynode admin: no node could serve the request (last answer 503: \(lastUnavailable.text)); tried:\n  "
                + failures.joined(separator: "\n  "))
            return .refused
        }
        err("relaynode admin: no node of the config answered; tried:\n  " + failures.joined(separator: "\n  "))
        return .unreachable
    }

    private static func json(_ object: [String: Any]) -> [UInt8] {
        (try? Array(JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]))) ?? []
    }

    /// A path segment, percent-encoded (RFC 3986 3.3: unreserved characters stay).
    private static func segment(_ text: String) -> String {
        let allowed = CharacterSet(charactersIn: "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~")
        return text.addingPercentEncoding(withAllowedCharacters: allowed) ?? text
    }
}
