import XCTest
@testable import Chat
import JSON
import Store

/// The group and invite rules through the front and the shard service (one node, real SQLite).
final class GroupTests: XCTestCase {
    func makeGroup(_ h: ChatHarness, by creator: Session, title: String = "Team", members: [String],
                   historyVisible: Bool = true) throws -> String {
        try h.wait { h.chat.createGroup(creator, .init(title: title, members: members, historyVisible: historyVisible), reply: $0) }.get()
    }

    func sendGroup(_ h: ChatHarness, _ session: Session, _ id: String, _ body: String, clientID: String) -> Result<Ack, ChatError> {
        let command = try! SendCommand(["client_id": .string(clientID), "conversation_id": .string(id), "kind": "text",
                                        "body": .string(body)])
        return h.wait { h.chat.send(session, command, origin: nil, reply: $0) }
    }

    func history(_ h: ChatHarness, _ session: Session, _ id: String) throws -> [StoredMessage] {
        try h.wait { h.chat.history(session, conversationID: id, query: HistoryQuery(limit: 100), reply: $0) }.get().messages
    }

    func systemEvents(_ messages: [StoredMessage]) -> [String] {
        messages.filter { $0.kind == "system" }.compactMap { (try? JSON.parse($0.body))?["event"]?.stringValue }
    }

    func testCreateListsTheGroupForEveryMemberAndRecordsIt() throws {
        let h = try ChatHarness()
        let alice = try h.signup("alice"), bob = try h.signup("bob")
        _ = try h.signup("carol")
        let id = try makeGroup(h, by: alice, members: ["bob", "carol", "alice"])
        XCTAssertTrue(id.hasPrefix("grp:"))
        let info = try h.wait { h.chat.group(bob, id: id, reply: $0) }.get()
        XCTAssertEqual(info.title, "Team")
        XCTAssertEqual(info.members.map(\.user), ["alice", "bob", "carol"])
        XCTAssertEqual(info.members.map(\.role), ["admin", "member", "member"])
        let list = try h.wait { h.chat.conversations(bob, reply: $0) }.get()
        XCTAssertEqual(list.map(\.conversationID), [id])
        XCTAssertEqual(list.first?.kind, "group")
        XCTAssertEqual(list.first?.title, "Team")
        let messages = try history(h, bob, id)
        XCTAssertEqual(systemEvents(messages), ["created", "member_added", "member_added"])
        XCTAssertEqual(messages.map(\.seq), [1, 2, 3])
        let body = try JSON.parse(messages[1].body)
        XCTAssertEqual(body["user"]?.stringValue, "bob")
        XCTAssertEqual(body["by"]?.stringValue, "alice")
        // Unknown members, bad titles: nothing is made.
        XCTAssertEqual(h.wait { h.chat.createGroup(alice, .init(title: "X", members: ["nobody"], historyVisible: true), reply: $0) }.failureCode,
                       .notFound)
        XCTAssertEqual(h.wait { h.chat.createGroup(alice, .init(title: "", members: [], historyVisible: true), reply: $0) }.failureCode,
                       .badRequest)
        XCTAssertEqual(try h.wait { h.chat.conversations(alice, reply: $0) }.get().count, 1)
    }

    func testMembersSendReadAndOutsidersCannot() throws {
        let h = try ChatHarness()
        let alice = try h.signup("alice"), bob = try h.signup("bob"), eve = try h.signup("eve")
        let id = try makeGroup(h, by: alice, members: ["bob"])
        h.sink.pushes.removeAll()
        let ack = try sendGroup(h, bob, id, "hello team", clientID: "b1").get()
        XCTAssertEqual(ack.seq, 3)
        XCTAssertEqual(h.sink.pushes.last?.users.sorted(), ["alice", "bob"])
        XCTAssertEqual(sendGroup(h, eve, id, "let me in", clientID: "e1").failureCode, .forbidden)
        XCTAssertEqual(h.wait { h.chat.history(eve, conversationID: id, query: HistoryQuery(limit: 10), reply: $0) }.failureCode, .forbidden)
        XCTAssertEqual(h.wait { h.chat.group(eve, id: id, reply: $0) }.failureCode, .notFound)
        XCTAssertEqual(h.wait { h.chat.addMember(eve, group: id, user: "eve", reply: $0) }.failureCode, .notFound)
        XCTAssertEqual(h.wait { h.chat.addMember(bob, group: id, user: "eve", reply: $0) }.failureCode, .forbidden)
    }

    func testARemovedMemberReadsUpToTheRemovalOnly() throws {
        let h = try ChatHarness()
        let alice = try h.signup("alice"), bob = try h.signup("bob")
        let id = try makeGroup(h, by: alice, members: ["bob"])
        _ = try sendGroup(h, alice, id, "before", clientID: "a1").get()
        try h.wait { h.chat.removeMember(alice, group: id, user: "bob", reply: $0) }.get()
        _ = try sendGroup(h, alice, id, "after", clientID: "a2").get()
        let seen = try history(h, bob, id)
        XCTAssertEqual(seen.map(\.body).contains("before"), true)
        XCTAssertFalse(seen.map(\.body).contains("after"))
        XCTAssertEqual(systemEvents(seen).last, "member_removed")
        XCTAssertEqual(sendGroup(h, bob, id, "still here?", clientID: "b1").failureCode, .forbidden)
        // The conversation list shows the group up to the removal.
        let row = try h.wait { h.chat.conversations(bob, reply: $0) }.get().first
        XCTAssertEqual(row?.lastSeq, seen.last?.seq)
        // Added back: reads on from the new join.
        try h.wait { h.chat.addMember(alice, group: id, user: "bob", reply: $0) }.get()
        _ = try sendGroup(h, alice, id, "welcome back", clientID: "a3").get()
        XCTAssertTrue(try history(h, bob, id).map(\.body).contains("welcome back"))
    }

    func testHistoryHiddenFromNewMembersWhenOff() throws {
        let h = try ChatHarness()
        let alice = try h.signup("alice"), carol = try h.signup("carol")
        _ = try h.signup("bob")
        let id = try makeGroup(h, by: alice, members: ["bob"], historyVisible: false)
        _ = try sendGroup(h, alice, id, "secret", clientID: "a1").get()
        try h.wait { h.chat.addMember(alice, group: id, user: "carol", reply: $0) }.get()
        let info = try h.wait { h.chat.group(alice, id: id, reply: $0) }.get()
        let joined = info.members.first { $0.user == "carol" }!.joinedSeq
        let seen = try history(h, carol, id)
        XCTAssertFalse(seen.map(\.body).contains("secret"))
        XCTAssertTrue(seen.allSatisfy { $0.seq > joined })
        XCTAssertEqual(systemEvents(seen), ["member_added"])
    }

    func testRolesAndTheLastAdminLeaving() throws {
        let h = try ChatHarness()
        let alice = try h.signup("alice"), bob = try h.signup("bob")
        _ = try h.signup("carol")
        let id = try makeGroup(h, by: alice, members: ["carol", "bob"])
        XCTAssertEqual(h.wait { h.chat.setRole(alice, group: id, user: "bob", role: "owner", reply: $0) }.failureCode, .badRequest)
        XCTAssertEqual(h.wait { h.chat.setRole(alice, group: id, user: "alice", role: "member", reply: $0) }.failureCode, .conflict)
        XCTAssertEqual(h.wait { h.chat.setRole(bob, group: id, user: "bob", role: "admin", reply: $0) }.failureCode, .forbidden)
        // The only admin leaves: the oldest member (founders tie: by name) becomes admin.
        try h.wait { h.chat.removeMember(alice, group: id, user: "alice", reply: $0) }.get()
        let info = try h.wait { h.chat.group(bob, id: id, reply: $0) }.get()
        XCTAssertEqual(info.members.map(\.user), ["bob", "carol"])
        XCTAssertEqual(info.members.first { $0.user == "bob" }?.role, "admin")
        XCTAssertEqual(systemEvents(try history(h, bob, id)).suffix(2), ["member_left", "role_changed"])
        // Renaming is recorded; a member (not admin) cannot.
        let renamed = try h.wait { h.chat.updateGroup(bob, group: id, title: "Renamed", historyVisible: false, reply: $0) }.get()
        XCTAssertEqual(renamed.title, "Renamed")
        XCTAssertFalse(renamed.historyVisible)
        XCTAssertEqual(systemEvents(try history(h, bob, id)).last, "title_changed")
        let carol = try h.wait { h.chat.login(user: "carol", password: "password-carol", device: "d", source: "192.0.2.1", reply: $0) }.get()
        let carolSession = try h.wait { h.chat.authenticate(token: carol.token, reply: $0) }.get()
        XCTAssertEqual(h.wait { h.chat.updateGroup(carolSession, group: id, title: "Mine", historyVisible: nil, reply: $0) }.failureCode,
                       .forbidden)
    }

    func testTheSizeLimitIsAConflict() throws {
        var settings = ChatSettings()
        settings.maxGroupMembers = 3
        let h = try ChatHarness(settings: settings)
        let alice = try h.signup("alice")
        for name in ["bob", "carol", "dave"] { _ = try h.signup(name) }
        XCTAssertEqual(h.wait { h.chat.createGroup(alice, .init(title: "T", members: ["bob", "carol", "dave"], historyVisible: true), reply: $0) }.failureCode,
                       .conflict)
        let id = try makeGroup(h, by: alice, members: ["bob", "carol"])
        XCTAssertEqual(h.wait { h.chat.addMember(alice, group: id, user: "dave", reply: $0) }.failureCode, .conflict)
        XCTAssertEqual(try h.wait { h.chat.group(alice, id: id, reply: $0) }.get().members.count, 3)
    }

    func testInvitesJoinOnceAndStopAtTheirLimits() throws {
        let h = try ChatHarness()
        let alice = try h.signup("alice"), bob = try h.signup("bob"), carol = try h.signup("carol"), dave = try h.signup("dave")
        let id = try makeGroup(h, by: alice, members: [])
        XCTAssertEqual(h.wait { h.chat.createInvite(bob, group: id, maxUses: 1, expiresInS: nil, reply: $0) }.failureCode, .notFound)
        let invite = try h.wait { h.chat.createInvite(alice, group: id, maxUses: 2, expiresInS: 60, reply: $0) }.get()
        XCTAssertEqual(InviteCodes.conversation(of: invite.code), id)
        XCTAssertEqual(try h.wait { h.chat.acceptInvite(bob, code: invite.code, reply: $0) }.get(), id)
        XCTAssertEqual(try h.wait { h.chat.acceptInvite(bob, code: invite.code, reply: $0) }.get(), id)   // not a second use
        XCTAssertEqual(try h.wait { h.chat.invites(alice, group: id, reply: $0) }.get().first?.uses, 1)
        _ = try h.wait { h.chat.acceptInvite(carol, code: invite.code, reply: $0) }.get()
        XCTAssertEqual(h.wait { h.chat.acceptInvite(dave, code: invite.code, reply: $0) }.failureCode, .conflict)   // used up
        XCTAssertEqual(systemEvents(try history(h, alice, id)).filter { $0 == "joined_by_invite" }.count, 2)
        XCTAssertEqual(try h.wait { h.chat.conversations(carol, reply: $0) }.get().map(\.conversationID), [id])
        // Expired, revoked, unknown or malformed: nothing changes.
        let short = try h.wait { h.chat.createInvite(alice, group: id, maxUses: nil, expiresInS: 10, reply: $0) }.get()
        h.now += 11_000
        XCTAssertEqual(h.wait { h.chat.acceptInvite(dave, code: short.code, reply: $0) }.failureCode, .conflict)
        // With a key too: a refusal is the refusal (a rule never writes before it refuses, so
        // nothing of the shard's turn is rolled back and the retry is refused the same way).
        for _ in 0..<2 {
            XCTAssertEqual(h.wait { h.chat.acceptInvite(dave, code: short.code, requestID: "k-expired", reply: $0) }.failureCode, .conflict)
        }
        let revoked = try h.wait { h.chat.createInvite(alice, group: id, maxUses: nil, expiresInS: nil, reply: $0) }.get()
        try h.wait { h.chat.revokeInvite(alice, code: revoked.code, reply: $0) }.get()
        XCTAssertEqual(h.wait { h.chat.acceptInvite(dave, code: revoked.code, reply: $0) }.failureCode, .notFound)
        let guessed = String(revoked.code.dropLast(4)) + "0000"
        XCTAssertEqual(h.wait { h.chat.acceptInvite(dave, code: guessed, reply: $0) }.failureCode, .notFound)
        XCTAssertEqual(h.wait { h.chat.acceptInvite(dave, code: "nonsense", reply: $0) }.failureCode, .notFound)
        XCTAssertEqual(try h.wait { h.chat.group(alice, id: id, reply: $0) }.get().members.map(\.user), ["alice", "bob", "carol"])
        XCTAssertEqual(h.wait { h.chat.createInvite(alice, group: id, maxUses: 0, expiresInS: nil, reply: $0) }.failureCode, .badRequest)
    }

    func testALateCopyOfARetriedChangeAppliesOnce() throws {
        let h = try ChatHarness()
        let alice = try h.signup("alice")
        _ = try h.signup("bob")
        let id = try makeGroup(h, by: alice, members: ["bob"])
        try h.wait { h.chat.removeMember(alice, group: id, user: "bob", requestID: "k1", reply: $0) }.get()
        try h.wait { h.chat.addMember(alice, group: id, user: "bob", requestID: "k2", reply: $0) }.get()
        // The first removal's earlier attempt arrives now: it changes nothing.
        try h.wait { h.chat.removeMember(alice, group: id, user: "bob", requestID: "k1", reply: $0) }.get()
        XCTAssertEqual(try h.wait { h.chat.group(alice, id: id, reply: $0) }.get().members.map(\.user), ["alice", "bob"])
        XCTAssertEqual(systemEvents(try history(h, alice, id)).suffix(2), ["member_removed", "member_added"])
        // Without a key, the same late removal would apply: keys are what make it safe.
        try h.wait { h.chat.removeMember(alice, group: id, user: "bob", reply: $0) }.get()
        XCTAssertEqual(try h.wait { h.chat.group(alice, id: id, reply: $0) }.get().members.map(\.user), ["alice"])
    }

    func testGroupReceiptsGoToTheSendersCovered() throws {
        let h = try ChatHarness()
        let alice = try h.signup("alice"), bob = try h.signup("bob")
        _ = try h.signup("carol")
        let id = try makeGroup(h, by: alice, members: ["bob", "carol"])
        let ack = try sendGroup(h, bob, id, "read me", clientID: "b1").get()
        let command = try ReceiptCommand(["read": .int(ack.seq)], conversationID: id)
        _ = try h.wait { h.chat.receipt(alice, command, reply: $0) }.get()
        h.fireTimers()
        let receipts = h.sink.pushes.filter { $0.event.kind == .receipt }
        XCTAssertEqual(receipts.last.map { Set($0.users) }, ["alice", "bob"])
    }
}
