import JSON
import Net

/// Signs users up over HTTP (`POST /v1/signup`) with `concurrency` keep-alive connections
/// spread round-robin over the nodes, each taking the next name when its answer arrives.
/// Loop thread only.
final class SignupRunner {
    struct Outcome {
        /// The token per name, nil where the signup failed.
        var tokens: [String?]
        var latency = LatencyHistogram()
        var elapsedMicros: UInt64 = 0
        /// Failures by status ("409") or transport error text.
        var failures: [String: Int] = [:]
        var succeeded: Int { tokens.count { $0 != nil } }
    }

    /// The one password every bench user gets (PROTOCOL-NOTES: 8 to 1024 bytes).
    static let password = "bench-password"

    private let names: [String]
    private let clients: [HTTPClient]
    private var outcome: Outcome
    private var nextName = 0
    private var finished = 0
    private var startMicros: UInt64 = 0
    private var completion: ((Outcome) -> Void)?

    init(loop: EventLoop, nodes: [Endpoint], names: [String], concurrency: Int) {
        self.names = names
        let count = max(1, min(concurrency, names.count))
        clients = (0..<count).map { HTTPClient(loop: loop, endpoint: nodes[$0 % nodes.count]) }
        outcome = Outcome(tokens: Array(repeating: nil, count: names.count))
    }

    func start(completion: @escaping (Outcome) -> Void) {
        self.completion = completion
        startMicros = MonotonicClock.nowMicros()
        if names.isEmpty { return finish() }
        for client in clients { next(on: client) }
    }

    private func next(on client: HTTPClient) {
        guard nextName < names.count else { return }
        let index = nextName
        nextName += 1
        let body: JSON = ["user": .string(names[index]), "password": .string(Self.password)]
        let sentMicros = MonotonicClock.nowMicros()
        client.request("POST", "/v1/signup", body: Array(body.serialized().utf8)) { [self] result in
            switch result {
            case .success(let reply) where reply.status == 201:
                outcome.latency.record(MonotonicClock.nowMicros() - sentMicros)
                outcome.tokens[index] = (try? JSON.parse(reply.body))?["token"]?.stringValue
                if outcome.tokens[index] == nil { outcome.failures["201 without a token", default: 0] += 1 }
            case .success(let reply):
                outcome.failures["HTTP \(reply.status)", default: 0] += 1
            case .failure(let error):
                outcome.failures[error.description, default: 0] += 1
            }
            finished += 1
            if finished == names.count { return finish() }
            next(on: client)
        }
    }

    private func finish() {
        outcome.elapsedMicros = MonotonicClock.nowMicros() - startMicros
        for client in clients { client.close() }
        let callback = completion
        completion = nil
        callback?(outcome)
    }
}

/// Names for one run: a random prefix so runs against the same cluster never collide
/// (user ids are never reused), e.g. `bk3x9q-a17`.
enum BenchNames {
    static func runPrefix() -> String {
        let alphabet = Array("abcdefghijklmnopqrstuvwxyz0123456789")
        var generator = SystemRandomNumberGenerator()
        return "b" + String((0..<6).map { _ in alphabet[Int.random(in: 0..<alphabet.count, using: &generator)] })
    }

    /// PROTOCOL.md: a direct chat's id is the two user ids in byte order.
    static func directConversation(_ a: String, _ b: String) -> String {
        Array(a.utf8).lexicographicallyPrecedes(Array(b.utf8)) ? "dm:\(a):\(b)" : "dm:\(b):\(a)"
    }
}
