import XCTest
@testable import Store

final class ShardStoreTests: XCTestCase {
    var directory = ""

    override func setUp() {
        directory = NSTemporaryDirectory() + "relay-store-\(UInt64.random(in: 0...UInt64.max))"
    }

    override func tearDown() {
        try? FileManager.default.removeItem(atPath: directory)
    }

    func message(_ seq: Int64, sender: String = "alice", hiddenFor: String? = nil) -> StoredMessage {
        StoredMessage(conversationID: "dm:alice:bob", seq: seq, messageID: "m_\(seq)", sender: sender,
                      clientID: "c-\(seq)", ts: 1_000 + seq, kind: "text", body: "hi \(seq)",
                      attachments: seq % 2 == 0 ? ["a_1", "a_2"] : [], tip: seq == 3 ? Tip(amountCents: 500, currency: "USD") : nil)
    }

    func testMessagesSurviveReopenOnlyWhenCommitted() throws {
        let files = try ShardFiles(directory: directory)
        let store = try files.store(7)
        XCTAssertTrue(try store.insertConversation(id: "dm:alice:bob", kind: "direct", title: "", historyVisible: true, now: 1))
        for seq: Int64 in 1...3 { try store.insertMessage(message(seq)) }
        XCTAssertEqual(files.commitAll().failed.count, 0)
        try store.insertMessage(message(4))       // never committed
        files.closeAll()

        let reopened = try ShardFiles(directory: directory).store(7)
        let all = try reopened.messages(conversationID: "dm:alice:bob", reader: "bob", after: 0, before: .max, limit: 100, newest: false)
        XCTAssertEqual(all.map(\.seq), [1, 2, 3])
        XCTAssertEqual(all[1].attachments, ["a_1", "a_2"])
        XCTAssertEqual(all[2].tip, Tip(amountCents: 500, currency: "USD"))
        XCTAssertEqual(all[0], message(1))
    }

    func testHistoryPagesNewestAndOldest() throws {
        let store = try ShardFiles(directory: directory).store(0)
        for seq: Int64 in 1...10 { try store.insertMessage(message(seq)) }
        let newest = try store.messages(conversationID: "dm:alice:bob", reader: "bob", after: 0, before: .max, limit: 3, newest: true)
        XCTAssertEqual(newest.map(\.seq), [8, 9, 10])
        let before = try store.messages(conversationID: "dm:alice:bob", reader: "bob", after: 0, before: 8, limit: 3, newest: true)
        XCTAssertEqual(before.map(\.seq), [5, 6, 7])
        let after = try store.messages(conversationID: "dm:alice:bob", reader: "bob", after: 2, before: .max, limit: 3, newest: false)
        XCTAssertEqual(after.map(\.seq), [3, 4, 5])
    }

    func testHiddenMessagesAreInvisibleToTheBlockerOnly() throws {
        let store = try ShardFiles(directory: directory).store(0)
        try store.insertMessage(message(1))
        try store.insertMessage(message(2, hiddenFor: "bob"), hiddenFor: "bob")
        XCTAssertEqual(try store.messages(conversationID: "dm:alice:bob", reader: "bob", after: 0, before: .max, limit: 10, newest: false).map(\.seq), [1])
        XCTAssertEqual(try store.messages(conversationID: "dm:alice:bob", reader: "alice", after: 0, before: .max, limit: 10, newest: false).map(\.seq), [1, 2])
        XCTAssertEqual(try store.unreadCount(conversationID: "dm:alice:bob", reader: "bob", after: 0, upTo: 2), 1)
        XCTAssertEqual(try store.unreadCount(conversationID: "dm:alice:bob", reader: "alice", after: 0, upTo: 2), 0)
    }

    func testSameClientIDIsRejectedByTheUniqueIndex() throws {
        let store = try ShardFiles(directory: directory).store(0)
        try store.insertMessage(message(1))
        var duplicate = message(2)
        duplicate.clientID = "c-1"
        XCTAssertThrowsError(try store.insertMessage(duplicate))
        XCTAssertEqual(try store.message(conversationID: "dm:alice:bob", sender: "alice", clientID: "c-1")?.seq, 1)
    }

    func testUsersAndSessions() throws {
        let store = try ShardFiles(directory: directory).store(1)
        XCTAssertTrue(try store.insertUser(id: "alice", passwordHash: "$y$x", displayName: "Alice", now: 5))
        XCTAssertFalse(try store.insertUser(id: "alice", passwordHash: "$y$y", displayName: "Other", now: 6))
        XCTAssertEqual(try store.passwordHash(user: "alice"), "$y$x")
        try store.insertSession(tokenHash: [1, 2, 3], user: "alice", device: "phone", now: 5, expiresAt: 100)
        XCTAssertEqual(try store.session(tokenHash: [1, 2, 3]), SessionRecord(user: "alice", device: "phone", expiresAt: 100))
        XCTAssertEqual(try store.deleteExpiredSessions(now: 50), 0)
        XCTAssertEqual(try store.deleteExpiredSessions(now: 101), 1)
        XCTAssertNil(try store.session(tokenHash: [1, 2, 3]))
    }

    func testTextWithNULAndUnicodeRoundTrips() throws {
        let store = try ShardFiles(directory: directory).store(0)
        var m = message(1)
        m.body = "a\u{0}b 😀 é"
        try store.insertMessage(m)
        XCTAssertEqual(try store.messages(conversationID: "dm:alice:bob", reader: "bob", after: 0, before: .max, limit: 1, newest: false).first?.body, "a\u{0}b 😀 é")
    }

    func testCommittedWritesFormALogThatRebuildsACopy() throws {
        let files = try ShardFiles(directory: directory)
        let primary = try files.store(3)
        XCTAssertTrue(try primary.insertUser(id: "alice", passwordHash: "$y$h", displayName: "Alice", now: 1))
        XCTAssertTrue(try primary.insertConversation(id: "dm:alice:bob", kind: "direct", title: "", historyVisible: true, now: 1))
        try primary.insertMember(conversationID: "dm:alice:bob", user: "alice", role: "member", joinedSeq: 0)
        let first = try XCTUnwrap(files.commitAll(term: { _ in 7 }).entries.first?.entry)
        XCTAssertEqual(first.lsn, 1)
        XCTAssertEqual(first.term, 7)
        XCTAssertEqual(first.statements.count, 3)
        for seq: Int64 in 1...3 { try primary.insertMessage(message(seq)) }
        try primary.setLastSeq(conversationID: "dm:alice:bob", seq: 3, ts: 9)
        _ = try primary.insertUser(id: "alice", passwordHash: "x", displayName: "x", now: 2)   // changes nothing
        let second = try XCTUnwrap(files.commitAll(term: { _ in 7 }).entries.first?.entry)
        XCTAssertEqual(second.lsn, 2)
        XCTAssertEqual(second.statements.count, 4, "a statement that changed nothing is not logged")
        XCTAssertEqual(try LogEntry.decode(second.encoded()), second)

        // A replica applying the entries in order is the same shard.
        let replica = try ShardStore(shard: 3, path: directory + "/replica.db")
        for entry in try XCTUnwrap(primary.entries(after: 0, limit: 10)) { try replica.apply(entry) }
        _ = try replica.commit(term: 7)
        XCTAssertEqual(replica.lastLSN, 2)
        XCTAssertEqual(try replica.messages(conversationID: "dm:alice:bob", reader: "alice", after: 0, before: .max, limit: 10, newest: false),
                       try primary.messages(conversationID: "dm:alice:bob", reader: "alice", after: 0, before: .max, limit: 10, newest: false))
        XCTAssertEqual(try replica.conversation("dm:alice:bob"), try primary.conversation("dm:alice:bob"))
        XCTAssertEqual(try replica.passwordHash(user: "alice"), "$y$h")
        XCTAssertThrowsError(try replica.apply(first), "an entry out of order is refused")
        XCTAssertEqual(try primary.entries(after: 2, limit: 10)?.count, 0)
    }

    func testLogEntryDecoderRefusesHostileBytes() {
        let entry = LogEntry(lsn: 5, term: 2, statements: [LogStatement(sql: "UPDATE x SET a=?", args: [.int(1), .text("é"), .blob([0, 1]), .null, .double(2.5)])])
        let bytes = entry.encoded()
        XCTAssertEqual(try LogEntry.decode(bytes), entry)
        for cut in 0..<bytes.count { XCTAssertThrowsError(try LogEntry.decode(Array(bytes.prefix(cut)))) }
        var state: UInt64 = 99
        for _ in 0..<5_000 {
            var mutated = bytes
            state = state &* 6364136223846793005 &+ 1442695040888963407
            mutated[Int(state >> 33) % mutated.count] = UInt8(truncatingIfNeeded: state >> 17)
            _ = try? LogEntry.decode(mutated)
        }
    }

    func testNewerSchemaIsRefused() throws {
        let path = directory + "-future.db"
        defer { try? FileManager.default.removeItem(atPath: path) }
        let db = try Database(path: path)
        try db.execute("PRAGMA user_version=99")
        db.close()
        XCTAssertThrowsError(try ShardStore(shard: 0, path: path))
    }
}
