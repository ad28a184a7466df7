import XCTest
@testable import Chat
import JSON
import Store

final class BlockTests: XCTestCase {
    func history(_ h: ChatHarness, _ reader: Session, _ id: String = "dm:alice:bob") throws -> [StoredMessage] {
        try h.wait { h.chat.history(reader, conversationID: id, query: HistoryQuery(limit: 100), reply: $0) }.get().messages
    }

    func setBlock(_ h: ChatHarness, _ s: Session, _ target: String, _ blocked: Bool) -> Result<Void, ChatError> {
        h.wait { h.chat.setBlock(s, target: target, blocked: blocked, reply: $0) }
    }

    func moderation(_ h: ChatHarness, _ user: String) throws -> [ModerationEntry] {
        try h.wait { h.chat.moderationLog(user: user, limit: 100, retentionMs: 30 * 86_400_000, reply: $0) }.get()
    }

    func messageSeqs(pushedTo user: String, _ h: ChatHarness) -> [Int64] {
        h.sink.events(for: user).filter { $0["type"]?.stringValue == "message" }.compactMap { $0["seq"]?.intValue }
    }

    func testABlockedSendersMessageIsAckedButNeverShownToTheBlocker() throws {
        let h = try ChatHarness()
        let alice = try h.signup("alice"), bob = try h.signup("bob")
        XCTAssertEqual(try h.send(alice, to: "bob", "before", clientID: "c1").get().seq, 1)
        XCTAssertNil(setBlock(h, bob, "alice", true).failureCode)

        let ack = try h.send(alice, to: "bob", "you cannot see this", clientID: "c2", origin: ConnectionRef(node: "n1", id: 7)).get()
        XCTAssertEqual(ack.seq, 2, "acked as usual: the blocked sender is not told")
        h.settle()
        XCTAssertEqual(try history(h, bob).map(\.body), ["before"])
        XCTAssertEqual(try history(h, alice).map(\.body), ["before", "you cannot see this"])
        XCTAssertEqual(messageSeqs(pushedTo: "bob", h), [1], "no push of the hidden message to the blocker")
        XCTAssertEqual(messageSeqs(pushedTo: "alice", h), [1, 2], "the sender's other devices still get it")

        // The blocker's summary skips it: unread counts only what he can see.
        let bobs = try h.wait { h.chat.conversations(bob, reply: $0) }.get()
        XCTAssertEqual(bobs.first?.unread, 1)
        XCTAssertEqual(bobs.first?.lastSeq, 2, "seq is the conversation's: the blocker's view has a gap")

        // Logged once for bob, even when alice retries the same client_id.
        XCTAssertEqual(try h.send(alice, to: "bob", "you cannot see this", clientID: "c2").get(), ack)
        h.settle()
        let log = try moderation(h, "bob")
        XCTAssertEqual(log.map(\.seq), [2])
        XCTAssertEqual(log.first?.sender, "alice")
        XCTAssertEqual(log.first?.conversationID, "dm:alice:bob")
        XCTAssertEqual(log.first?.preview, "you cannot see this")
        XCTAssertEqual(try moderation(h, "alice"), [])

        // Receipts still work both ways.
        let receipt = try ReceiptCommand(["conversation_id": "dm:alice:bob", "read": 2])
        _ = try h.wait { h.chat.receipt(bob, receipt, reply: $0) }.get()
        XCTAssertTrue(h.sink.events(for: "alice").contains { $0["type"]?.stringValue == "receipt" && $0["user"]?.stringValue == "bob" })

        // Her typing does not reach him; his reaches her.
        let pushesBefore = h.sink.pushes.count
        _ = try h.wait { h.chat.typing(alice, conversationID: "dm:alice:bob", reply: $0) }.get()
        XCTAssertEqual(h.sink.pushes.count, pushesBefore, "no one to tell")
        _ = try h.wait { h.chat.typing(bob, conversationID: "dm:alice:bob", reply: $0) }.get()
        XCTAssertEqual(h.sink.pushes.last?.users, ["alice"])

        // Unblocking restores new messages only.
        XCTAssertNil(setBlock(h, bob, "alice", false).failureCode)
        XCTAssertEqual(try h.send(alice, to: "bob", "after", clientID: "c3").get().seq, 3)
        XCTAssertEqual(try history(h, bob).map(\.body), ["before", "after"])
        XCTAssertEqual(messageSeqs(pushedTo: "bob", h), [1, 3])
        // Bob's own messages to alice were never affected.
        XCTAssertEqual(try h.send(bob, to: "alice", "mine", clientID: "b1").get().seq, 4)
        XCTAssertEqual(try history(h, alice).last?.body, "mine")
    }

    func testBlockingFirstHidesTheChatsFirstMessagesToo() throws {
        let h = try ChatHarness()
        let alice = try h.signup("alice"), bob = try h.signup("bob")
        XCTAssertNil(setBlock(h, bob, "alice", true).failureCode, "a block needs no chat yet")
        XCTAssertEqual(try h.send(alice, to: "bob", "hello?", clientID: "c1").get().seq, 1)
        h.settle()
        XCTAssertEqual(try history(h, bob), [])
        XCTAssertEqual(try history(h, alice).count, 1)
        XCTAssertEqual(try h.wait { h.chat.conversations(bob, reply: $0) }.get().first?.unread, 0)
        XCTAssertEqual(try moderation(h, "bob").count, 1)
    }

    func testBlockRulesAndIdempotency() throws {
        let h = try ChatHarness()
        let bob = try h.signup("bob")
        _ = try h.signup("alice"); _ = try h.signup("carol")
        XCTAssertEqual(setBlock(h, bob, "bob", true).failureCode, .badRequest)
        XCTAssertEqual(setBlock(h, bob, "nobody", true).failureCode, .notFound)
        XCTAssertEqual(setBlock(h, bob, "Not Valid", true).failureCode, .badRequest)
        XCTAssertNil(setBlock(h, bob, "carol", true).failureCode)
        XCTAssertNil(setBlock(h, bob, "alice", true).failureCode)
        XCTAssertNil(setBlock(h, bob, "alice", true).failureCode, "idempotent")
        XCTAssertEqual(try h.wait { h.chat.blocks(bob, reply: $0) }.get(), ["alice", "carol"])
        XCTAssertNil(setBlock(h, bob, "carol", false).failureCode)
        XCTAssertNil(setBlock(h, bob, "carol", false).failureCode, "idempotent")
        XCTAssertNil(setBlock(h, bob, "alice", false).failureCode)
        XCTAssertEqual(try h.wait { h.chat.blocks(bob, reply: $0) }.get(), [])
    }

    func testAnOlderBlockNeverOvertakesANewerUnblock() throws {
        let h = try ChatHarness()
        let call = { (op: SetDirectBlock) in _ = h.wait { h.chat.router.call(op, reply: $0) } }
        call(SetDirectBlock(blocker: "bob", blocked: "alice", active: false, version: 2))
        call(SetDirectBlock(blocker: "bob", blocked: "alice", active: true, version: 1))
        let store = try h.files.store(h.service.shardMap.shard(for: .conversation("dm:alice:bob")))
        XCTAssertFalse(try store.isDirectBlockActive(conversationID: "dm:alice:bob", blocker: "bob"))
        call(SetDirectBlock(blocker: "bob", blocked: "alice", active: true, version: 3))
        XCTAssertTrue(try store.isDirectBlockActive(conversationID: "dm:alice:bob", blocker: "bob"))
    }

    func testModerationLogKeepsAShortPreviewAndIsPrunedByAge() throws {
        let h = try ChatHarness()
        let alice = try h.signup("alice"), bob = try h.signup("bob")
        XCTAssertNil(setBlock(h, bob, "alice", true).failureCode)
        _ = try h.send(alice, to: "bob", String(repeating: "x", count: 500), clientID: "old").get()
        h.settle()
        h.now += 40 * 86_400_000
        _ = try h.send(alice, to: "bob", "new", clientID: "new").get()
        h.settle()
        XCTAssertEqual(try moderation(h, "bob").map(\.preview), ["new"], "entries past the retention are not shown")
        let store = try h.files.store(h.service.shardMap.shard(for: .user("bob")))
        XCTAssertEqual(try store.db.queryOne("SELECT count(*) FROM moderation_log")?.int(0), 2)
        XCTAssertEqual(try store.pruneModerationLog(before: h.now - 30 * 86_400_000), 1)
        h.settle()
        XCTAssertEqual(try store.db.queryOne("SELECT count(*) FROM moderation_log")?.int(0), 1)
        XCTAssertEqual(try moderation(h, "bob").count, 1)
        XCTAssertEqual(ModerationEntry.preview(of: String(repeating: "é", count: 300)).count, 100)
        XCTAssertEqual(ModerationEntry.preview(of: "c2VjcmV0", kind: .ciphertext), "", "an end-to-end body is never read")
    }
}
