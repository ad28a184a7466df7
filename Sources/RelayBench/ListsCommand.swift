import JSON
import Net

/// `relay-bench lists`: a mass message's expansion rate. Signs up an owner and N recipients,
/// puts the recipients on one list (`POST /v1/lists`, then `POST /v1/lists/{id}/members` in
/// chunks), posts K messages to the list one after another and polls each one's progress
/// until every recipient is done: recipients/s from the 202 to `done == recipients`, and the
/// time to the 202. The first message opens every direct chat; the later ones find them open.
enum ListsCommand {
    static let flags: Set<String> = ["nodes", "recipients", "messages", "signup-concurrency", "timeout-s", "pid", "json"]

    static func run(_ args: ArraySlice<String>) throws -> Int32 {
        let options = try BenchOptions(args, known: flags)
        let settings = ListsBench.Settings(
            nodes: try options.nodes(),
            recipients: try options.int("recipients", default: 10_000, range: 1...100_000),
            messages: try options.int("messages", default: 1, range: 1...100),
            signupConcurrency: try options.int("signup-concurrency", default: 16, range: 1...1_000),
            timeoutS: try options.seconds("timeout-s", default: 600) ?? 600,
            prefix: BenchNames.runPrefix())
        let run = try BenchRun(options)
        var result: ListsBench.Outcome?
        let usage = try run.run { loop, done in
            let bench = ListsBench(loop: loop, settings: settings)
            bench.start { outcome in
                result = outcome
                _ = bench
                done()
            }
        }
        guard let o = result else { return 1 }
        print("lists: \(settings.recipients) recipients, nodes \(settings.nodes.map(\.description).joined(separator: ",")), users \(settings.prefix)-*")
        print(String(format: "  signups: %d in %@ (%.0f/s)", o.signedUp, Report.seconds(o.signupMicros),
                     Report.perSecond(o.signedUp, o.signupMicros)))
        print("  list built in \(Report.seconds(o.buildMicros))")
        for (i, m) in o.messages.enumerated() {
            print(String(format: "  message %d: 202 in %@; %d of %d recipients done in %@: %.0f recipients/s", i + 1,
                         Report.seconds(m.postMicros), m.done, settings.recipients, Report.seconds(m.expandMicros),
                         Report.perSecond(m.done, m.expandMicros)))
        }
        if let aborted = o.aborted { print("  ABORTED: \(aborted)") }
        let figures: JSONObject = [
            "mode": "lists", "recipients": .int(Int64(settings.recipients)), "nodes": .array(settings.nodes.map { .string($0.description) }),
            "signups": .int(Int64(o.signedUp)), "signup_s": .double(Double(o.signupMicros) / 1e6),
            "messages": .array(o.messages.map {
                .object(["post_s": .double(Double($0.postMicros) / 1e6), "done": .int(Int64($0.done)),
                         "expand_s": .double(Double($0.expandMicros) / 1e6),
                         "recipients_per_s": .double(Report.perSecond($0.done, $0.expandMicros))])
            }),
            "aborted": o.aborted.map(JSON.string) ?? .null,
        ]
        run.report(figures, servers: usage.servers, bench: usage.bench)
        let clean = o.aborted == nil && o.messages.count == settings.messages && o.messages.allSatisfy { $0.done == settings.recipients }
        print(clean ? "OK" : "FAILED")
        return clean ? 0 : 1
    }
}

/// The steps of `relay-bench lists`, one after another on the loop.
final class ListsBench {
    struct Settings {
        var nodes: [Endpoint]
        var recipients: Int
        var messages: Int
        var signupConcurrency: Int
        var timeoutS: Double
        var prefix: String
    }

    struct Outcome {
        var signedUp = 0
        var signupMicros: UInt64 = 0
        var buildMicros: UInt64 = 0
        var messages: [Message] = []
        var aborted: String?
    }

    struct Message {
        var postMicros: UInt64 = 0
        var expandMicros: UInt64 = 0
        var done = 0
    }

    /// Members per membership request: well under the server's 10,000 and its 256 KiB body.
    static let membersPerRequest = 5_000
    /// How often the progress is read while the job runs.
    static let pollMs: Int64 = 50

    let loop: EventLoop
    let settings: Settings
    private var outcome = Outcome()
    private var completion: ((Outcome) -> Void)?
    private var signups: SignupRunner?
    private var client: HTTPClient
    private var token = ""
    private var names: [String] = []
    private var listID = ""
    private var phaseStart: UInt64 = 0
    private var deadlineMicros: UInt64 = 0

    init(loop: EventLoop, settings: Settings) {
        self.loop = loop
        self.settings = settings
        client = HTTPClient(loop: loop, endpoint: settings.nodes[0])
    }

    func start(completion: @escaping (Outcome) -> Void) {
        self.completion = completion
        deadlineMicros = MonotonicClock.nowMicros() + UInt64(settings.timeoutS * 1e6)
        names = (0...settings.recipients).map { "\(settings.prefix)-\($0 == 0 ? "owner" : "r\($0)")" }
        let runner = SignupRunner(loop: loop, nodes: settings.nodes, names: names, concurrency: settings.signupConcurrency)
        signups = runner
        runner.start { [self] o in
            outcome.signedUp = o.succeeded
            outcome.signupMicros = o.elapsedMicros
            signups = nil
            guard o.succeeded == names.count, let owner = o.tokens[0] else { return abort("signups failed: \(o.failures)") }
            token = owner
            names.removeFirst()
            phaseStart = MonotonicClock.nowMicros()
            addMembers(from: 0)
        }
    }

    private func addMembers(from index: Int) {
        guard index < names.count else {
            outcome.buildMicros = MonotonicClock.nowMicros() - phaseStart
            return post()
        }
        let chunk = Array(names[index..<min(names.count, index + Self.membersPerRequest)])
        let members = JSON.array(chunk.map { .string($0) })
        let (path, body): (String, JSON) = listID.isEmpty
            ? ("/v1/lists", ["name": "bench", "members": members])
            : ("/v1/lists/\(listID)/members", ["members": members])
        client.request("POST", path, token: token, body: Array(body.serialized().utf8)) { [self] result in
            guard case .success(let reply) = result, reply.status == 201 || reply.status == 204 else {
                return abort("building the list: \(Self.describe(result))")
            }
            if listID.isEmpty {
                guard let id = (try? JSON.parse(reply.body))?["list_id"]?.stringValue else { return abort("no list_id") }
                listID = id
            }
            addMembers(from: index + chunk.count)
        }
    }

    private func post() {
        guard outcome.messages.count < settings.messages else { return finish() }
        let clientID = "bench-\(outcome.messages.count + 1)"
        let body: JSON = ["client_id": .string(clientID), "kind": "text", "body": "hello from the bench"]
        phaseStart = MonotonicClock.nowMicros()
        client.request("POST", "/v1/lists/\(listID)/messages", token: token, body: Array(body.serialized().utf8)) { [self] result in
            guard case .success(let reply) = result, reply.status == 202 else { return abort("POST: \(Self.describe(result))") }
            outcome.messages.append(Message(postMicros: MonotonicClock.nowMicros() - phaseStart))
            poll(clientID)
        }
    }

    private func poll(_ clientID: String) {
        client.request("GET", "/v1/lists/\(listID)/messages/\(clientID)", token: token) { [self] result in
            let now = MonotonicClock.nowMicros()
            if case .success(let reply) = result, reply.status == 200, let o = try? JSON.parse(reply.body),
               let done = o["done"]?.intValue, let recipients = o["recipients"]?.intValue {
                outcome.messages[outcome.messages.count - 1].done = Int(done)
                outcome.messages[outcome.messages.count - 1].expandMicros = now - phaseStart
                if done == recipients { return post() }
            }
            guard now < deadlineMicros else { return abort("not done within \(settings.timeoutS) s") }
            loop.schedule(afterMs: Self.pollMs) { [self] in poll(clientID) }
        }
    }

    private static func describe(_ result: Result<HTTPReply, HTTPReplyError>) -> String {
        switch result {
        case .success(let reply): return "HTTP \(reply.status) \(String(decoding: reply.body.prefix(200), as: UTF8.self))"
        case .failure(let error): return error.description
        }
    }

    private func abort(_ why: String) {
        outcome.aborted = why
        finish()
    }

    private func finish() {
        client.close()
        let callback = completion
        completion = nil
        callback?(outcome)
    }
}
