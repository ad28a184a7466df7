import Foundation
import JSON
import RelayClient

/// HTTP calls to a Relay cluster with failover: every node serves every request, so a call
/// that cannot reach its node, or is answered 503, goes to the next one. The node that
/// answered last is tried first next time.
final class ClusterClient {
    var nodes: [String]
    var token: String?
    let timeoutMs: Int

    init(nodes: [String], token: String?, timeoutMs: Int = 15_000) {
        self.nodes = nodes
        self.token = token
        self.timeoutMs = timeoutMs
    }

    var current: String { nodes.first ?? "http://127.0.0.1:7001" }

    /// Learns the other nodes from `/v1/cluster` (their client addresses), keeping order.
    func discover() {
        guard let status = try? call("GET", "/v1/cluster", auth: false), let members = status["members"]?.arrayValue else { return }
        for member in members {
            guard let client = member["client"]?.stringValue, member["state"]?.stringValue == "alive" else { continue }
            let url = "http://" + client
            if !nodes.contains(url) { nodes.append(url) }
        }
    }

    /// The JSON answer (nil for 204) of a 2xx; throws the protocol's error otherwise.
    @discardableResult
    func call(_ method: String, _ path: String, _ body: JSONObject? = nil, auth: Bool = true,
              headers: [(String, String)] = []) throws(CLIError) -> JSON {
        var h = headers
        if body != nil { h.append(("Content-Type", "application/json")) }
        let bytes = body.map { Array(JSON.object($0).serialized().utf8) } ?? []
        let answer = try attempt(auth: auth) { client, auth throws(CLIError) in
            switch client.call(method, path, headers: h + auth, body: bytes) {
            case .success(let answer): return answer
            case .failure(let failure): throw CLIError.unreachable("\(client.host):\(client.port): \(failure)")
            }
        }
        return try Self.decode(answer)
    }

    /// Runs `exchange` against each node in turn until one answers other than 503.
    func attempt(auth: Bool, _ exchange: (BlockingHTTPClient, [(String, String)]) throws(CLIError) -> BlockingHTTPClient.Answer)
        throws(CLIError) -> BlockingHTTPClient.Answer {
        if auth && token == nil { throw .unauthorized("not signed in: run `relay login USER` first") }
        let authHeader: [(String, String)] = auth ? [("Authorization", "Bearer \(token!)")] : []
        var lastProblem = "no nodes configured"
        for round in 0..<3 {
            for _ in nodes.indices {
                guard let (host, port, _) = BlockingHTTPClient.parse(url: current + "/") else {
                    throw .usage("\(current) is not an http://IPv4:PORT address")
                }
                let client = BlockingHTTPClient(host: host, port: port, timeoutMs: timeoutMs)
                do {
                    let answer = try exchange(client, authHeader)
                    if answer.status != 503 { return answer }
                    lastProblem = "\(current): unavailable (\(Self.message(answer)))"
                } catch .unreachable(let why) {
                    lastProblem = why
                }
                nodes.append(nodes.removeFirst())
            }
            usleep(UInt32(200_000 * (round + 1)))
        }
        throw .unreachable("no node could serve the request: \(lastProblem)")
    }

    static func decode(_ answer: BlockingHTTPClient.Answer) throws(CLIError) -> JSON {
        if answer.status == 204 || answer.body.isEmpty, (200..<300).contains(answer.status) { return .null }
        let json = (try? JSON.parse(answer.body)) ?? .null
        if (200..<300).contains(answer.status) { return json }
        let error = json["error"]?.objectValue ?? [:]
        let code = error["code"]?.stringValue ?? "http_\(answer.status)"
        let message = error["message"]?.stringValue ?? answer.text
        if answer.status == 401 { throw .unauthorized("the token was refused (\(message)): run `relay login USER`") }
        throw .refused(status: answer.status, code: code, message: message, extra: error)
    }

    static func message(_ answer: BlockingHTTPClient.Answer) -> String {
        ((try? JSON.parse(answer.body))?["error"]?["message"]?.stringValue) ?? "HTTP \(answer.status)"
    }
}
