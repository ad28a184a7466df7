import XCTest
@testable import Chat
import JSON
import Store

final class DirectChatTests: XCTestCase {
    func testSignupLoginAndWrongPassword() throws {
        let h = try ChatHarness()
        _ = try h.signup("alice")
        let taken = h.wait { h.chat.signup(user: "alice", password: "another-one", displayName: nil, device: "d", reply: $0) }
        XCTAssertEqual(taken.failureCode, .conflict)
        let login = h.wait { h.chat.login(user: "alice", password: "password-alice", device: "laptop", source: "192.0.2.1", reply: $0) }
        let token = try login.get().token
        let session = try h.wait { h.chat.authenticate(token: token, reply: $0) }.get()
        XCTAssertEqual(session.user, "alice")
        XCTAssertEqual(session.device, "laptop")
        XCTAssertEqual(h.wait { h.chat.login(user: "alice", password: "wrong-password", device: "d", source: "192.0.2.1", reply: $0) }.failureCode, .unauthorized)
        XCTAssertEqual(h.wait { h.chat.login(user: "nobody", password: "whatever-it-is", device: "d", source: "192.0.2.1", reply: $0) }.failureCode, .unauthorized)
        XCTAssertEqual(h.wait { h.chat.signup(user: "Bad Name", password: "password1", displayName: nil, device: "d", reply: $0) }.failureCode, .badRequest)
        XCTAssertEqual(h.wait { h.chat.signup(user: "carol", password: "short", displayName: nil, device: "d", reply: $0) }.failureCode, .badRequest)
    }

    func testLogoutRevokesTheTokenOnly() throws {
        let h = try ChatHarness()
        let phone = try h.signup("alice")
        let laptopGrant = try h.wait { h.chat.login(user: "alice", password: "password-alice", device: "laptop", source: "192.0.2.1", reply: $0) }.get()
        _ = h.wait { h.chat.logout(phone, reply: $0) }
        let tokens = try h.wait { h.chat.login(user: "alice", password: "password-alice", device: "x", source: "192.0.2.1", reply: $0) }.get()
        XCTAssertEqual(h.wait { h.chat.authenticate(token: laptopGrant.token, reply: $0) }.failureCode, nil)
        XCTAssertEqual(h.wait { h.chat.authenticate(token: tokens.token, reply: $0) }.failureCode, nil)
        // A forged token and a token of the wrong shape are refused.
        let forged = String(repeating: "A", count: 32) + ".alice"
        XCTAssertEqual(h.wait { h.chat.authenticate(token: forged, reply: $0) }.failureCode, .unauthorized)
        XCTAssertEqual(h.wait { h.chat.authenticate(token: "garbage", reply: $0) }.failureCode, .unauthorized)
    }

    func testLoggedOutTokenIsRefused() throws {
        let h = try ChatHarness()
        let grant = try h.wait { h.chat.signup(user: "alice", password: "password-alice", displayName: nil, device: "d", reply: $0) }.get()
        let session = try h.wait { h.chat.authenticate(token: grant.token, reply: $0) }.get()
        _ = h.wait { h.chat.logout(session, reply: $0) }
        XCTAssertEqual(h.wait { h.chat.authenticate(token: grant.token, reply: $0) }.failureCode, .unauthorized)
    }

    func testExpiredTokenIsRefused() throws {
        let h = try ChatHarness()
        let grant = try h.wait { h.chat.signup(user: "alice", password: "password-alice", displayName: nil, device: "d", reply: $0) }.get()
        h.now = grant.expiresAt + 1
        XCTAssertEqual(h.wait { h.chat.authenticate(token: grant.token, reply: $0) }.failureCode, .unauthorized)
    }

    func testFirstMessageOpensTheChatAndSeqIsGapless() throws {
        let h = try ChatHarness()
        let alice = try h.signup("alice"), bob = try h.signup("bob")
        let first = try h.send(alice, to: "bob", "hi", clientID: "c1").get()
        XCTAssertEqual(first.conversationID, "dm:alice:bob")
        XCTAssertEqual(first.seq, 1)
        XCTAssertEqual(try h.send(bob, to: "alice", "hey", clientID: "c1").get().seq, 2)
        XCTAssertEqual(try h.send(alice, to: "bob", "how are you", clientID: "c2").get().seq, 3)
        let page = try h.wait { h.chat.history(bob, conversationID: "dm:alice:bob", query: HistoryQuery(limit: 50), reply: $0) }.get()
        XCTAssertEqual(page.messages.map(\.seq), [1, 2, 3])
        XCTAssertEqual(page.messages.map(\.body), ["hi", "hey", "how are you"])
        XCTAssertEqual(page.messages.map(\.sender), ["alice", "bob", "alice"])
        XCTAssertFalse(page.hasMore)
    }

    func testABurstOfFirstMessagesIsStoredInSendingOrder() throws {
        let h = try ChatHarness()
        let alice = try h.signup("alice")
        _ = try h.signup("bob")
        var acks: [Int: Int64] = [:]
        for i in 0..<8 {
            let command = try SendCommand(["client_id": .string("p-\(i)"), "to": "bob", "kind": "text", "body": .string("m\(i)")])
            h.chat.send(alice, command, origin: nil) { acks[i] = try? $0.get().seq }
        }
        h.settle()
        XCTAssertEqual((0..<8).map { acks[$0] }, (1...8).map { Int64($0) })
    }

    func testResendWithSameClientIDStoresOnce() throws {
        let h = try ChatHarness()
        let alice = try h.signup("alice"), bob = try h.signup("bob")
        let first = try h.send(alice, to: "bob", "once", clientID: "same").get()
        let again = try h.send(alice, to: "bob", "once", clientID: "same").get()
        XCTAssertEqual(first, again)
        let page = try h.wait { h.chat.history(bob, conversationID: "dm:alice:bob", query: HistoryQuery(limit: 50), reply: $0) }.get()
        XCTAssertEqual(page.messages.count, 1)
    }

    func testAckWaitsForTheCommit() throws {
        let h = try ChatHarness()
        let alice = try h.signup("alice")
        _ = try h.signup("bob")
        _ = try h.send(alice, to: "bob", "open", clientID: "c0").get()
        var ack: Result<Ack, ChatError>?
        let command = try SendCommand(["client_id": "c1", "to": "bob", "kind": "text", "body": "x"])
        h.chat.send(alice, command, origin: nil) { ack = $0 }
        XCTAssertNil(ack, "acked before the commit")
        h.settle()
        XCTAssertEqual(try ack?.get().seq, 2)
    }

    func testSendToUnknownUserIsNotFound() throws {
        let h = try ChatHarness()
        let alice = try h.signup("alice")
        XCTAssertEqual(h.send(alice, to: "ghost", "hello?", clientID: "c1").failureCode, .notFound)
    }

    func testOthersCannotReadOrWriteADirectChat() throws {
        let h = try ChatHarness()
        let alice = try h.signup("alice")
        _ = try h.signup("bob")
        let carol = try h.signup("carol")
        _ = try h.send(alice, to: "bob", "private", clientID: "c1").get()
        let read = h.wait { h.chat.history(carol, conversationID: "dm:alice:bob", query: HistoryQuery(limit: 50), reply: $0) }
        XCTAssertEqual(read.failureCode, .forbidden)
        let write = try SendCommand(["client_id": "x", "conversation_id": "dm:alice:bob", "kind": "text", "body": "hi"])
        XCTAssertEqual(h.wait { h.chat.send(carol, write, origin: nil, reply: $0) }.failureCode, .forbidden)
    }

    func testLiveMessageGoesToRecipientAndSendersOtherDevicesNotTheSendingConnection() throws {
        let h = try ChatHarness()
        let alice = try h.signup("alice")
        _ = try h.signup("bob")
        let origin = ConnectionRef(node: "n1", id: 7)
        _ = try h.send(alice, to: "bob", "hi", clientID: "c1", origin: origin).get()
        let push = try XCTUnwrap(h.sink.pushes.last)
        XCTAssertEqual(Set(push.users), ["alice", "bob"])
        XCTAssertEqual(push.except, origin)
        let event = try JSON.parse(push.event.text)
        XCTAssertEqual(event["type"], "message")
        XCTAssertEqual(event["seq"], 1)
        XCTAssertEqual(event["body"], "hi")
        XCTAssertEqual(event["tip"], .null)
    }

    func testHistoryPagesBackwardAndForward() throws {
        let h = try ChatHarness()
        let alice = try h.signup("alice")
        let bob = try h.signup("bob")
        for i in 1...25 { _ = try h.send(alice, to: "bob", "m\(i)", clientID: "c\(i)").get() }
        func page(_ q: HistoryQuery) throws -> ([Int64], Bool) {
            let p = try h.wait { h.chat.history(bob, conversationID: "dm:alice:bob", query: q, reply: $0) }.get()
            return (p.messages.map(\.seq), p.hasMore)
        }
        XCTAssertEqual(try page(HistoryQuery(limit: 10)).0, Array(16...25))
        XCTAssertEqual(try page(HistoryQuery(limit: 10)).1, true)
        XCTAssertEqual(try page(HistoryQuery(before: 16, limit: 10)).0, Array(6...15))
        let oldest = try page(HistoryQuery(before: 6, limit: 10))
        XCTAssertEqual(oldest.0, Array(1...5))
        XCTAssertFalse(oldest.1)
        let forward = try page(HistoryQuery(after: 20, limit: 10))
        XCTAssertEqual(forward.0, Array(21...25))
        XCTAssertFalse(forward.1)
        XCTAssertEqual(try page(HistoryQuery(after: 2, before: 6, limit: 10)).0, [3, 4, 5])
        XCTAssertEqual(try page(HistoryQuery(limit: 1000)).0.count, 25)
    }

    func testReceiptsMoveForwardOnlyAndReachTheOtherMember() throws {
        let h = try ChatHarness()
        let alice = try h.signup("alice")
        let bob = try h.signup("bob")
        for i in 1...5 { _ = try h.send(alice, to: "bob", "m\(i)", clientID: "c\(i)").get() }
        let cursors = try h.wait { h.chat.receipt(bob, try! ReceiptCommand(["conversation_id": "dm:alice:bob", "read": 3]), reply: $0) }.get()
        XCTAssertEqual(cursors.read, 3)
        XCTAssertEqual(cursors.delivered, 3, "reading implies delivery")
        let back = try h.wait { h.chat.receipt(bob, try! ReceiptCommand(["conversation_id": "dm:alice:bob", "read": 1, "delivered": 99]), reply: $0) }.get()
        XCTAssertEqual(back.read, 3, "a cursor never moves back")
        XCTAssertEqual(back.delivered, 5, "a cursor stops at the last message")
        let receipt = try XCTUnwrap(h.sink.events(for: "alice").first { $0["type"] == "receipt" })
        XCTAssertEqual(receipt["user"], "bob")
        XCTAssertEqual(receipt["read"], 3)
    }

    func testReceiptEventsAreCoalescedToOnePerSecond() throws {
        let h = try ChatHarness()
        let alice = try h.signup("alice")
        let bob = try h.signup("bob")
        for i in 1...5 { _ = try h.send(alice, to: "bob", "m\(i)", clientID: "c\(i)").get() }
        for seq: Int64 in 1...5 {
            _ = h.wait { h.chat.receipt(bob, try! ReceiptCommand(["conversation_id": "dm:alice:bob", "read": .int(seq)]), reply: $0) }
            h.now += 10
        }
        XCTAssertEqual(h.sink.events(for: "alice").filter { $0["type"] == "receipt" }.count, 1)
        h.now += 1_000
        h.fireTimers()
        let receipts = h.sink.events(for: "alice").filter { $0["type"] == "receipt" }
        XCTAssertEqual(receipts.count, 2)
        XCTAssertEqual(receipts.last?["read"], 5, "the merged event carries the latest cursor")
    }

    func testConversationListHasUnreadCounts() throws {
        let h = try ChatHarness()
        let alice = try h.signup("alice")
        let bob = try h.signup("bob")
        _ = try h.signup("carol")
        for i in 1...4 { _ = try h.send(alice, to: "bob", "m\(i)", clientID: "a\(i)").get() }
        h.now += 5
        _ = try h.send(bob, to: "carol", "hi carol", clientID: "b1").get()
        _ = h.wait { h.chat.receipt(bob, try! ReceiptCommand(["conversation_id": "dm:alice:bob", "read": 1]), reply: $0) }
        let list = try h.wait { h.chat.conversations(bob, reply: $0) }.get()
        XCTAssertEqual(list.map(\.conversationID), ["dm:bob:carol", "dm:alice:bob"], "newest activity first")
        XCTAssertEqual(list[1].unread, 3)
        XCTAssertEqual(list[1].title, "alice")
        XCTAssertEqual(list[0].unread, 0, "your own messages are not unread")
        XCTAssertEqual(list[1].lastSeq, 4)
    }

    func testSendCommandValidation() {
        XCTAssertThrowsError(try SendCommand(["to": "bob", "kind": "text", "body": "x"]))
        XCTAssertThrowsError(try SendCommand(["client_id": "c", "kind": "text", "body": "x"]))
        XCTAssertThrowsError(try SendCommand(["client_id": "c", "to": "bob", "conversation_id": "dm:a:b", "kind": "text", "body": "x"]))
        XCTAssertThrowsError(try SendCommand(["client_id": "c", "to": "bob", "kind": "system", "body": "x"]))
        XCTAssertThrowsError(try SendCommand(["client_id": "c", "to": "bob", "kind": "text", "body": 5]))
        let big = String(repeating: "x", count: SendCommand.maxBodyBytes + 1)
        XCTAssertEqual((try? SendCommand(["client_id": "c", "to": "bob", "kind": "text", "body": .string(big)])) == nil, true)
        do { _ = try SendCommand(["client_id": "c", "to": "bob", "kind": "text", "body": .string(big)]) } catch {
            XCTAssertEqual(error.code, .tooLarge)
        }
    }
}

extension Result {
    var failureCode: ChatError.Code? {
        if case .failure(let error) = self { return (error as? ChatError)?.code }
        return nil
    }
}
