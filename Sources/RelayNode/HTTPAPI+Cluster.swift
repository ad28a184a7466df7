import Hashing
import HTTPWire

/// Operations: liveness, metrics, the cluster's state, and a graceful leave.
extension HTTPAPI {
    /// `GET /healthz`
    func healthz(_ call: Call) {
        call.respond(Reply.json(200, ["status": "ok", "node": .string(node.id)]))
    }

    /// `GET /metrics`: Prometheus text.
    func metrics(_ call: Call) {
        var response = HTTPResponse(status: 200, body: Array(node.metricsText().utf8))
        response.headers.set("Content-Type", "text/plain; version=0.0.4")
        call.respond(response)
    }

    /// `GET /v1/cluster`: members, their state and ring ownership.
    func cluster(_ call: Call) {
        call.respond(cachedStatus("cluster", maxAgeMs: Self.clusterStatusMaxAgeMs) { Reply.json(200, node.clusterStatus()) })
    }

    /// `GET /v1/cluster/shards`: each shard's configuration as this node knows it;
    /// `?conversation=`, `?user=` or `?asset=` picks the shard that holds that conversation,
    /// account or asset.
    func clusterShards(_ call: Call) {
        var shard: Int?
        for (name, prefix) in [("conversation", "conv:"), ("user", "user:"), ("asset", "asset:")] {
            guard let id = call.request.query[name] else { continue }
            guard !id.isEmpty, id.utf8.count <= 256 else { return call.respond(Reply.error(.badRequest("bad \(name) id"))) }
            shard = node.shardMap.shard(forKey: prefix + id)
        }
        if let shard { return call.respond(Reply.json(200, node.cluster.shardStatus(only: shard))) }
        call.respond(cachedStatus("shards", maxAgeMs: Self.shardStatusMaxAgeMs) { Reply.json(200, node.cluster.shardStatus(only: nil)) })
    }

    /// Whether the request carries the cluster's secret (`Authorization: Bearer SECRET`), the
    /// operator's credential. Compared as SHA-256 digests in constant time: neither the
    /// secret's bytes nor its length leak through timing.
    func isOperator(_ request: HTTPRequest) -> Bool {
        guard let header = request.headers["Authorization"], header.hasPrefix("Bearer ") else { return false }
        let presented = SHA256.hash(Array(header.utf8.dropFirst("Bearer ".utf8.count)))
        return constantTimeEquals(presented, SHA256.hash(Array(node.config.secret.utf8)))
    }

    /// `POST /v1/cluster/leave`: operators only; the cluster's secret is the credential.
    func clusterLeave(_ call: Call) {
        guard isOperator(call.request) else {
            return call.respond(Reply.error(.unauthorized))
        }
        node.leave()
        call.respond(Reply.json(202, ["status": "leaving", "node": .string(node.id)]))
    }
}
