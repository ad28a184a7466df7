import XCTest
@testable import Chat
import JSON
import Ring
import Store

/// Records what would be pushed to live connections.
final class RecordingSink: EventSink {
    struct Push { let event: OutboundEvent; let users: [String]; let except: ConnectionRef? }
    var pushes: [Push] = []
    func push(_ event: OutboundEvent, to users: [String], except: ConnectionRef?) {
        pushes.append(Push(event: event, users: users, except: except))
    }
    func events(for user: String) -> [JSON] {
        pushes.filter { $0.users.contains(user) }.compactMap { try? JSON.parse($0.event.text) }
    }
}

/// A one-node chat service over real SQLite files in a temporary folder, a manual clock and
/// manual timers; `settle()` plays the event loop's turn end (the group commit).
final class ChatHarness {
    let directory = NSTemporaryDirectory() + "relay-chat-\(UInt64.random(in: 0...UInt64.max))"
    let clock = Box<Int64>(1_763_700_000_000)
    let timers = Box<[() -> Void]>([])
    let sink = RecordingSink()
    let files: ShardFiles
    let service: ShardService
    let chat: ChatService

    var now: Int64 {
        get { clock.value }
        set { clock.value = newValue }
    }

    /// `wrap` puts something between the service and the front (a router that fails some
    /// calls): the front and the outbox both call through it.
    init(settings: ChatSettings = ChatSettings(), wrap: (ShardRouter) -> ShardRouter = { $0 }) throws {
        files = try ShardFiles(directory: directory)
        let map = try ShardMap(shardCount: 16)
        let random = SeededRandom(seed: 42)
        let clock = self.clock, timers = self.timers
        service = ShardService(nodeID: "n1", files: files, shardMap: map, random: random, clock: { clock.value },
                               schedule: { _, fn in timers.value.append(fn) })
        chat = ChatService(router: wrap(LocalRouter(service: service)), shardMap: map, hasher: InlineYescryptHasher(random: random),
                           random: random, settings: settings, clock: { clock.value })
        service.sink = sink
        service.attach(router: chat.router)
    }

    func settle() { service.commitAll() }

    /// Runs the timers that are due (the harness only schedules coalesced receipts).
    func fireTimers() {
        let due = timers.value
        timers.value = []
        due.forEach { $0() }
        settle()
    }

    /// Runs an asynchronous call to its reply, committing as the loop would.
    func wait<T>(_ call: (@escaping (T) -> Void) -> Void) -> T {
        var out: T?
        call { out = $0 }
        // A request chain may wait on several commits (open the chat, then send; a rule,
        // then its outbox job's calls on other shards).
        for _ in 0..<20 where out == nil { settle() }
        guard let out else { fatalError("no reply after the commit") }
        return out
    }

    func signup(_ user: String) throws -> Session {
        let grant = try wait { chat.signup(user: user, password: "password-\(user)", displayName: nil, device: "phone", reply: $0) }.get()
        return try wait { chat.authenticate(token: grant.token, reply: $0) }.get()
    }

    func send(_ session: Session, to user: String, _ body: String, clientID: String, origin: ConnectionRef? = nil) -> Result<Ack, ChatError> {
        let command = try! SendCommand(["client_id": .string(clientID), "to": .string(user), "kind": "text", "body": .string(body)])
        return wait { chat.send(session, command, origin: origin, reply: $0) }
    }

    deinit { try? FileManager.default.removeItem(atPath: directory) }
}

final class Box<T> { var value: T; init(_ v: T) { value = v } }
