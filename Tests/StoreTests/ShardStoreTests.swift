import XCTest
@testable import Store

/// The typed reads and writes, on both backends.
final class ShardStoreTests: XCTestCase {
    var directory = ""
    var backends: Backends { Backends(directory: directory) }

    override func setUp() {
        directory = NSTemporaryDirectory() + "relay-store-\(UInt64.random(in: 0...UInt64.max))"
    }

    override func tearDown() {
        try? FileManager.default.removeItem(atPath: directory)
    }

    func message(_ seq: Int64, sender: String = "alice") -> StoredMessage { .sample(seq, sender: sender) }

    func testMessagesSurviveReopenOnlyWhenCommitted() throws {
        for backend in Backends.all {
            let files = try backends.make(backend)
            let store = try files.store(7)
            XCTAssertTrue(try store.insertConversation(id: "dm:alice:bob", kind: "direct", title: "", historyVisible: true, now: 1))
            for seq: Int64 in 1...3 { try store.insertMessage(message(seq)) }
            XCTAssertEqual(files.commitAll().failed.count, 0)
            try store.insertMessage(message(4))       // never committed

            let reopened = try backends.restart(files).store(7)
            let all = try reopened.messages(conversationID: "dm:alice:bob", reader: "bob", after: 0, before: .max, limit: 100, newest: false)
            XCTAssertEqual(all.map(\.seq), [1, 2, 3], "\(backend)")
            XCTAssertEqual(all[1].attachments, ["a_1", "a_2"])
            XCTAssertEqual(all[2].tip, Tip(amountCents: 500, currency: "USD"))
            XCTAssertEqual(all[0], message(1))
        }
    }

    func testHistoryPagesNewestAndOldest() throws {
        for backend in Backends.all {
            let store = try backends.make(backend).store(0)
            for seq: Int64 in 1...10 { try store.insertMessage(message(seq)) }
            let newest = try store.messages(conversationID: "dm:alice:bob", reader: "bob", after: 0, before: .max, limit: 3, newest: true)
            XCTAssertEqual(newest.map(\.seq), [8, 9, 10])
            let before = try store.messages(conversationID: "dm:alice:bob", reader: "bob", after: 0, before: 8, limit: 3, newest: true)
            XCTAssertEqual(before.map(\.seq), [5, 6, 7])
            let after = try store.messages(conversationID: "dm:alice:bob", reader: "bob", after: 2, before: .max, limit: 3, newest: false)
            XCTAssertEqual(after.map(\.seq), [3, 4, 5])
        }
    }

    func testHiddenMessagesAreInvisibleToTheBlockerOnly() throws {
        for backend in Backends.all {
            let store = try backends.make(backend).store(0)
            try store.insertMessage(message(1))
            try store.insertMessage(message(2), hiddenFor: "bob")
            XCTAssertEqual(try store.messages(conversationID: "dm:alice:bob", reader: "bob", after: 0, before: .max, limit: 10, newest: false).map(\.seq), [1])
            XCTAssertEqual(try store.messages(conversationID: "dm:alice:bob", reader: "alice", after: 0, before: .max, limit: 10, newest: false).map(\.seq), [1, 2])
            XCTAssertEqual(try store.unreadCount(conversationID: "dm:alice:bob", reader: "bob", after: 0, upTo: 2), 1)
            XCTAssertEqual(try store.unreadCount(conversationID: "dm:alice:bob", reader: "alice", after: 0, upTo: 2), 0)
        }
    }

    func testSameClientIDIsRejectedByTheUniqueIndex() throws {
        for backend in Backends.all {
            let store = try backends.make(backend).store(0)
            try store.insertMessage(message(1))
            var duplicate = message(2)
            duplicate.clientID = "c-1"
            XCTAssertThrowsError(try store.insertMessage(duplicate))
            XCTAssertEqual(try store.message(conversationID: "dm:alice:bob", sender: "alice", clientID: "c-1")?.seq, 1)
        }
    }

    func testUsersAndSessions() throws {
        for backend in Backends.all {
            let store = try backends.make(backend).store(1)
            XCTAssertTrue(try store.insertUser(id: "alice", passwordHash: "$y$x", displayName: "Alice", now: 5))
            XCTAssertFalse(try store.insertUser(id: "alice", passwordHash: "$y$y", displayName: "Other", now: 6))
            XCTAssertEqual(try store.passwordHash(user: "alice"), "$y$x")
            try store.insertSession(tokenHash: [1, 2, 3], user: "alice", device: "phone", now: 5, expiresAt: 100)
            XCTAssertEqual(try store.session(tokenHash: [1, 2, 3]), SessionRecord(user: "alice", device: "phone", expiresAt: 100))
            XCTAssertEqual(try store.deleteExpiredSessions(now: 50), 0)
            XCTAssertEqual(try store.deleteExpiredSessions(now: 101), 1)
            XCTAssertNil(try store.session(tokenHash: [1, 2, 3]))
        }
    }

    func testTextWithNULAndUnicodeRoundTrips() throws {
        for backend in Backends.all {
            let store = try backends.make(backend).store(0)
            var m = message(1)
            m.body = "a\u{0}b 😀 é"
            try store.insertMessage(m)
            XCTAssertEqual(try store.messages(conversationID: "dm:alice:bob", reader: "bob", after: 0, before: .max, limit: 1, newest: false).first?.body, "a\u{0}b 😀 é")
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
