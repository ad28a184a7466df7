import XCTest
@testable import Chat
import Store

/// A router that fails chosen operations, as an unreachable shard would.
final class FlakyRouter: ShardRouter {
    let inner: ShardRouter
    /// How many more calls to fail, per (operation code, shard key).
    var failures: [String: Int] = [:]
    init(_ inner: ShardRouter) { self.inner = inner }

    func fail<Op: ShardOperation>(_ op: Op, times: Int) { failures["\(Op.code)/\(op.key)"] = times }

    func call<Op: ShardOperation>(_ op: Op, reply: @escaping (Result<Op.Reply, ChatError>) -> Void) {
        let key = "\(Op.code)/\(op.key)"
        if let left = failures[key], left > 0 {
            failures[key] = left - 1
            return reply(.failure(.unavailable("\(op.key) is unreachable")))
        }
        inner.call(op, reply: reply)
    }
}

final class OutboxTests: XCTestCase {
    func index(_ h: ChatHarness, _ session: Session) throws -> [String] {
        try h.wait { h.chat.router.call(ConversationIndex(user: session.user), reply: $0) }.get()
    }

    func jobs(_ h: ChatHarness, onShardOf conversation: String) throws -> [String] {
        try h.files.store(h.service.shardMap.shard(for: .conversation(conversation))).jobIDs()
    }

    /// The review's repair bug: a direct chat committed while one index write failed was
    /// never listed for that user, since a retry saw the chat and skipped the indexes. Now
    /// the indexing is an outbox job that the chat's shard keeps running until it succeeds.
    func testAnIndexWriteThatFailedIsRepairedByTheOutbox() throws {
        var flaky: FlakyRouter!
        let h = try ChatHarness { inner in flaky = FlakyRouter(inner); return flaky }
        let alice = try h.signup("alice"), bob = try h.signup("bob")
        flaky.fail(AddToIndex(user: "bob", conversationID: "dm:alice:bob"), times: 1)

        XCTAssertEqual(h.send(alice, to: "bob", "hi", clientID: "c1").failureCode, .unavailable,
                       "a send whose chat is not yet in both indexes is not acked")
        XCTAssertEqual(try index(h, alice), ["dm:alice:bob"])
        XCTAssertEqual(try index(h, bob), [])
        XCTAssertEqual(try jobs(h, onShardOf: "dm:alice:bob"), ["index:dm:alice:bob"])

        h.fireTimers()   // the job's retry
        XCTAssertEqual(try index(h, bob), ["dm:alice:bob"])
        XCTAssertEqual(try jobs(h, onShardOf: "dm:alice:bob"), [])
        XCTAssertEqual(try h.send(alice, to: "bob", "hi", clientID: "c1").get().seq, 1)
    }

    /// A retry while the job is still failing waits for it again and fails with it; the chat
    /// is never half-listed in an acked state.
    func testARetryWaitsForTheChatsPendingJob() throws {
        var flaky: FlakyRouter!
        let h = try ChatHarness { inner in flaky = FlakyRouter(inner); return flaky }
        let alice = try h.signup("alice")
        _ = try h.signup("bob")
        flaky.fail(AddToIndex(user: "bob", conversationID: "dm:alice:bob"), times: 2)
        XCTAssertEqual(h.send(alice, to: "bob", "hi", clientID: "c1").failureCode, .unavailable)
        let retried = h.wait { h.chat.router.call(OpenDirect(conversationID: "dm:alice:bob"), reply: $0) }
        XCTAssertEqual(retried.failureCode, .unavailable, "an OpenDirect of a chat whose job runs waits for that job")
        h.fireTimers()
        XCTAssertEqual(try h.wait { h.chat.router.call(OpenDirect(conversationID: "dm:alice:bob"), reply: $0) }.get(), Done())
    }

    /// After a failover the new primary resumes the shard's outbox from the replicated rows.
    func testANewPrimaryResumesTheOutbox() throws {
        var flaky: FlakyRouter!
        let h = try ChatHarness { inner in flaky = FlakyRouter(inner); return flaky }
        let alice = try h.signup("alice"), bob = try h.signup("bob")
        flaky.fail(AddToIndex(user: "bob", conversationID: "dm:alice:bob"), times: 1)
        XCTAssertEqual(h.send(alice, to: "bob", "hi", clientID: "c1").failureCode, .unavailable)
        // The old primary goes (its retry timer is lost with it); a new service over the same
        // shard files starts leading and finds the job in the outbox.
        h.timers.value = []
        let shard = h.service.shardMap.shard(for: .conversation("dm:alice:bob"))
        h.service.abandon(shard: shard)
        let successor = ShardService(nodeID: "n2", files: h.files, shardMap: h.service.shardMap, random: SeededRandom(seed: 9),
                                     clock: { 1_763_700_000_000 }, schedule: { _, _ in })
        successor.attach(router: LocalRouter(service: successor))
        successor.startedLeading(shard: shard)
        successor.commitAll()
        XCTAssertEqual(try index(h, bob), ["dm:alice:bob"])
        XCTAssertEqual(try jobs(h, onShardOf: "dm:alice:bob"), [])
    }
}
