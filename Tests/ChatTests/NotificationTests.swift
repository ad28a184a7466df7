import XCTest
@testable import Chat

/// Who is online, as a test says.
final class FakeOnline: OnlineUsers {
    var users: Set<String> = []
    func isOnline(_ user: String) -> Bool { users.contains(user) }
}

/// A push gateway that fails its first `failures` calls and records the keys it took.
final class FakePushHook: NotificationHook {
    var failures = 0
    var keys: [String] = []
    var maxAgeMs: Int64 = 3_600_000
    func deliver(_ notification: PushedNotification, done: @escaping (Result<Void, ChatError>) -> Void) {
        if failures > 0 {
            failures -= 1
            return done(.failure(.unavailable("gateway down")))
        }
        keys.append(notification.key)
        done(.success(()))
    }
}

/// Notifications, mute and per-device cursors through the real shard service
/// (docs/NOTIFICATIONS.md).
final class NotificationTests: XCTestCase {
    func notifications(_ h: ChatHarness, _ session: Session, after: Int64 = 0) throws -> [ChatNotification] {
        try h.wait { h.chat.notifications(session, after: after, limit: 100, reply: $0) }.get()
    }

    func testAnOfflineMemberIsNotifiedOncePerMessageAndAnOnlineOneNever() throws {
        let h = try ChatHarness()
        let online = FakeOnline()
        h.service.online = online
        let alice = try h.signup("alice"), bob = try h.signup("bob"), carol = try h.signup("carol")
        online.users = ["alice", "carol"]
        XCTAssertNoThrow(try h.send(alice, to: "bob", "hello bob", clientID: "c1").get())
        XCTAssertNoThrow(try h.send(alice, to: "bob", "hello bob", clientID: "c1").get())   // a retry: stores nothing
        XCTAssertNoThrow(try h.send(alice, to: "carol", "hello carol", clientID: "c2").get())
        h.settle()
        let list = try notifications(h, bob)
        XCTAssertEqual(list.map(\.seq), [1])
        XCTAssertEqual(list.first?.sender, "alice")
        XCTAssertEqual(list.first?.preview, "hello bob")
        XCTAssertEqual(list.first?.conversationID, "dm:alice:bob")
        XCTAssertEqual(try notifications(h, carol), [])
        XCTAssertEqual(try notifications(h, alice), [], "the sender is never notified of its own message")
    }

    func testARepeatedAddIsStoredOnceAndIdsOnlyGrow() throws {
        let h = try ChatHarness()
        let online = FakeOnline()
        h.service.online = online
        let alice = try h.signup("alice"), bob = try h.signup("bob")
        _ = try h.send(alice, to: "bob", "x", clientID: "c1").get()
        h.settle()
        let add = AddNotification(user: "bob", conversationID: "dm:alice:bob", seq: 1, sender: "alice", preview: "x", ts: 1)
        XCTAssertEqual(try h.wait { h.chat.router.call(add, reply: $0) }.get(), true)
        XCTAssertEqual(try h.wait { h.chat.router.call(add, reply: $0) }.get(), true)
        XCTAssertEqual(try notifications(h, bob).count, 1)
        _ = try h.wait { h.chat.receipt(bob, try! ReceiptCommand(["conversation_id": "dm:alice:bob", "read": 1]), reply: $0) }.get()
        h.settle()
        // Cleared by the read; the same add after it (a job re-run after a failover) is refused.
        XCTAssertEqual(try notifications(h, bob), [])
        XCTAssertEqual(try h.wait { h.chat.router.call(add, reply: $0) }.get(), false)
        let next = AddNotification(user: "bob", conversationID: "dm:alice:bob", seq: 2, sender: "alice", preview: "y", ts: 2)
        XCTAssertEqual(try h.wait { h.chat.router.call(next, reply: $0) }.get(), true)
        XCTAssertEqual(try notifications(h, bob).map(\.id), [2], "ids never go back, even after the list emptied")
    }

    func testAReadReceiptClearsTheNotificationsItCovers() throws {
        let h = try ChatHarness()
        let online = FakeOnline()
        h.service.online = online
        let alice = try h.signup("alice"), bob = try h.signup("bob")
        for i in 1...3 { _ = try h.send(alice, to: "bob", "m\(i)", clientID: "c\(i)").get() }
        h.settle()
        XCTAssertEqual(try notifications(h, bob).map(\.seq), [1, 2, 3])
        _ = try h.wait { h.chat.receipt(bob, try! ReceiptCommand(["conversation_id": "dm:alice:bob", "read": 2]), reply: $0) }.get()
        h.settle()
        XCTAssertEqual(try notifications(h, bob).map(\.seq), [3])
        XCTAssertEqual(try notifications(h, bob, after: 3).count, 0, "`after` is an id bound")
    }

    func testAMutedConversationIsNotNotifiedAndOnlyMembersMayMute() throws {
        let h = try ChatHarness()
        let online = FakeOnline()
        h.service.online = online
        let alice = try h.signup("alice"), bob = try h.signup("bob"), carol = try h.signup("carol")
        _ = try h.send(alice, to: "bob", "first", clientID: "c1").get()
        XCTAssertNoThrow(try h.wait { h.chat.mute(bob, conversationID: "dm:alice:bob", muted: true, reply: $0) }.get())
        _ = try h.send(alice, to: "bob", "second", clientID: "c2").get()
        h.settle()
        XCTAssertEqual(try notifications(h, bob).map(\.seq), [1])
        XCTAssertNoThrow(try h.wait { h.chat.mute(bob, conversationID: "dm:alice:bob", muted: false, reply: $0) }.get())
        _ = try h.send(alice, to: "bob", "third", clientID: "c3").get()
        h.settle()
        XCTAssertEqual(try notifications(h, bob).map(\.seq), [1, 3])
        let refused = h.wait { h.chat.mute(carol, conversationID: "dm:alice:bob", muted: true, reply: $0) }
        XCTAssertEqual(refused.failureCode, .forbidden)
    }

    func testABlockedSendersMessagesNotifyNobody() throws {
        let h = try ChatHarness()
        let online = FakeOnline()
        h.service.online = online
        let alice = try h.signup("alice"), bob = try h.signup("bob")
        XCTAssertNoThrow(try h.wait { h.chat.setBlock(bob, target: "alice", blocked: true, reply: $0) }.get())
        _ = try h.send(alice, to: "bob", "hidden", clientID: "c1").get()
        h.settle()
        XCTAssertEqual(try notifications(h, bob), [])
    }

    func testAPushIsRetriedUntilTheGatewayTakesIt() throws {
        let h = try ChatHarness()
        let online = FakeOnline(), hook = FakePushHook()
        h.service.online = online
        h.service.notificationHook = hook
        hook.failures = 2
        let alice = try h.signup("alice"), _ = try h.signup("bob")
        _ = try h.send(alice, to: "bob", "ping", clientID: "c1").get()
        h.settle()
        XCTAssertEqual(hook.keys, [])
        h.fireTimers()
        h.fireTimers()
        XCTAssertEqual(hook.keys, ["bob:dm:alice:bob:1"])
    }

    func testEachDeviceHasItsOwnBacklogCursor() throws {
        let h = try ChatHarness()
        let alice = try h.signup("alice"), bob = try h.signup("bob")
        let firstSeen = h.now - 1
        for i in 1...3 { _ = try h.send(alice, to: "bob", "m\(i)", clientID: "c\(i)").get() }
        _ = try h.wait {
            h.chat.receipt(bob, try! ReceiptCommand(["conversation_id": "dm:alice:bob", "delivered": 3]), device: "phone", reply: $0)
        }.get()
        let phone = try h.wait { h.chat.conversations(bob, device: "phone", deviceFirstSeen: firstSeen, reply: $0) }.get()
        let tablet = try h.wait { h.chat.conversations(bob, device: "tablet", deviceFirstSeen: firstSeen, reply: $0) }.get()
        let user = try h.wait { h.chat.conversations(bob, reply: $0) }.get()
        XCTAssertEqual(phone.first?.delivered, 3)
        XCTAssertEqual(tablet.first?.delivered, 0, "the tablet saw none of the chat: its backlog is all of it")
        XCTAssertEqual(user.first?.delivered, 3, "the member's cursor is the highest over the devices")
        // A device first seen after the chat began starts at the user's cursor, frozen there.
        let laptop = try h.wait { h.chat.conversations(bob, device: "laptop", deviceFirstSeen: h.now + 1, reply: $0) }.get()
        XCTAssertEqual(laptop.first?.delivered, 3)
    }

    func testABigGroupsJobPagesTheMembersAndNotifiesTheOfflineOnes() throws {
        let h = try ChatHarness()
        let online = FakeOnline()
        h.service.online = online
        let alice = try h.signup("alice")
        let members = (0..<150).map { String(format: "m%03d", $0) }
        for user in members {
            let session = NewSession(user: user, device: "d", tokenHash: Array(user.utf8) + [UInt8](repeating: 1, count: 28),
                                     expiresAt: h.now + 1_000_000)
            _ = try h.wait { h.chat.router.call(CreateUser(user: user, passwordHash: "x", displayName: user, session: session), reply: $0) }.get()
        }
        let id = try h.wait { h.chat.createGroup(alice, .init(title: "Big", members: members, historyVisible: true), reply: $0) }.get()
        online.users = Set(members.prefix(10))   // 140 offline: more than a job names, so it pages
        let send = try! SendCommand(["client_id": "c1", "conversation_id": .string(id), "kind": "text", "body": "hi all"])
        let ack = try h.wait { h.chat.send(alice, send, origin: nil, reply: $0) }.get()
        for _ in 0..<10 { h.settle() }
        for user in members {
            let list = try h.wait { h.chat.router.call(NotificationList(user: user, after: 0, limit: 10), reply: $0) }.get()
            XCTAssertEqual(list.map(\.seq), online.users.contains(user) ? [] : [ack.seq], user)
        }
    }

    func testDevicesPastTheBoundReplaceTheOldestOfflineOrAreNotTracked() throws {
        let h = try ChatHarness()
        let bob = try h.signup("bob")
        func seen(_ device: String, online: Bool = true) throws -> Int64 {
            try h.wait { h.chat.deviceSeen(user: "bob", device: device, node: "n1", online: online, reply: $0) }.get()
        }
        for i in 0..<DeviceLimits.maxTracked { XCTAssertEqual(try seen("d\(i)"), h.now) }
        XCTAssertEqual(try seen("extra"), DeviceLimits.untracked, "every tracked device is online")
        h.now += 1
        _ = try seen("d7", online: false)
        h.now += 1
        XCTAssertEqual(try seen("extra"), h.now, "the offline one makes room")
        let names = try h.wait { h.chat.devices(bob, reply: $0) }.get().map(\.device)
        XCTAssertTrue(names.contains("extra"))
        XCTAssertFalse(names.contains("d7"))
        XCTAssertTrue(names.contains("phone"), "the token's device is listed too")
    }
}
