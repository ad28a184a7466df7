import XCTest
@testable import Chat
import Store

final class ShardCodecTests: XCTestCase {
    static let session = NewSession(user: "alice", device: "phone", tokenHash: Array(repeating: 7, count: 32), expiresAt: 99)
    static let message = StoredMessage(conversationID: "dm:alice:bob", seq: 12, messageID: "m_1", sender: "alice", clientID: "c-1",
                                       ts: 1_763_700_000_000, kind: "tip", body: "thanks \u{0} 😀", attachments: ["a_1", "a_2"],
                                       tip: Tip(amountCents: 500, currency: "EUR"))

    static let requests: [ShardRequest] = [
        .createUser(user: "alice", passwordHash: "$y$j9T$x", displayName: "Alice", session: session),
        .passwordHash(user: "alice"),
        .createSession(session),
        .session(user: "alice", tokenHash: [1, 2, 3]),
        .deleteSession(user: "alice", tokenHash: [4]),
        .userExists(user: "bob"),
        .addToIndex(user: "bob", conversationID: "dm:alice:bob"),
        .conversationIndex(user: "bob"),
        .openDirect(conversationID: "dm:alice:bob"),
        .conversationExists(conversationID: "dm:alice:bob"),
        .send(NewMessage(conversationID: "dm:alice:bob", sender: "alice", clientID: "c", kind: "text", body: "hi",
                         attachments: [], tip: nil, origin: ConnectionRef(node: "n2", id: 42))),
        .send(NewMessage(conversationID: "dm:alice:bob", sender: "alice", clientID: "c", kind: "tip", body: "",
                         attachments: ["a"], tip: Tip(amountCents: 1, currency: "USD"), origin: nil)),
        .messages(conversationID: "dm:alice:bob", reader: "bob", query: HistoryQuery(after: 3, before: nil, limit: 50)),
        .messages(conversationID: "dm:alice:bob", reader: "bob", query: HistoryQuery(after: nil, before: 9, limit: 100)),
        .setCursors(conversationID: "dm:alice:bob", user: "bob", delivered: nil, read: 4),
        .summaries(user: "bob", conversationIDs: ["dm:alice:bob", "dm:bob:carol"]),
        .typing(conversationID: "dm:alice:bob", user: "bob"),
    ]

    static let replies: [Result<ShardReply, ChatError>] = [
        .success(.done), .success(.flag(true)), .success(.flag(false)), .success(.passwordHash("$y$abc")), .success(.passwordHash(nil)),
        .success(.session(SessionRecord(user: "alice", device: "d", expiresAt: 5))), .success(.session(nil)),
        .success(.index(["a", "b"])),
        .success(.ack(Ack(clientID: "c", conversationID: "dm:alice:bob", seq: 3, messageID: "m", ts: -1))),
        .success(.page(messages: [message, message], hasMore: true)), .success(.page(messages: [], hasMore: false)),
        .success(.cursors(delivered: 5, read: 4)),
        .success(.summaries([ConversationSummary(conversationID: "dm:alice:bob", kind: "direct", title: "bob", lastSeq: 9,
                                                 lastTs: 8, delivered: 7, read: 6, unread: 3)])),
        .failure(ChatError(.forbidden, "not a member")),
        .failure(ChatError(.unavailable, "try again", retryAfterMs: 250)),
    ]

    func testEveryRequestRoundTrips() throws {
        for request in Self.requests {
            let (op, payload) = ShardCodec.encode(request)
            XCTAssertEqual(try ShardCodec.decodeRequest(operation: op, payload: payload), request)
        }
    }

    func testEveryReplyRoundTrips() throws {
        for reply in Self.replies {
            XCTAssertEqual(try ShardCodec.decodeReply(ShardCodec.encode(reply)), reply)
        }
    }

    func testTruncatedAndTrailingBytesAreRefused() {
        for request in Self.requests {
            let (op, payload) = ShardCodec.encode(request)
            for cut in stride(from: 0, to: payload.count, by: max(1, payload.count / 7)) {
                XCTAssertThrowsError(try ShardCodec.decodeRequest(operation: op, payload: Array(payload.prefix(cut))))
            }
            XCTAssertThrowsError(try ShardCodec.decodeRequest(operation: op, payload: payload + [0]))
        }
        XCTAssertThrowsError(try ShardCodec.decodeRequest(operation: 999, payload: []))
        XCTAssertThrowsError(try ShardCodec.decodeReply([]))
        XCTAssertThrowsError(try ShardCodec.decodeReply([200]))
    }

    func testRandomBytesNeverTrap() {
        let random = SeededRandom(seed: 7)
        for i in 0..<20_000 {
            let length = Int(random.next() % 64)
            let bytes = random.bytes(length)
            let op = UInt16(random.next() % 16)
            _ = try? ShardCodec.decodeRequest(operation: op, payload: bytes)
            _ = try? ShardCodec.decodeReply(bytes)
            // Mutations of valid encodings reach deeper into the decoders.
            let (vop, encoded) = ShardCodec.encode(Self.requests[i % Self.requests.count])
            var valid = encoded
            if !valid.isEmpty { valid[Int(random.next() % UInt64(valid.count))] = UInt8(truncatingIfNeeded: random.next()) }
            _ = try? ShardCodec.decodeRequest(operation: vop, payload: valid)
        }
    }
}
