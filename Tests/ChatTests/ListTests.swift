import XCTest
@testable import Chat
import JSON
import Store

final class ListTests: XCTestCase {
    /// Accounts without the password hash's cost: the rules under test never log in.
    func users(_ h: ChatHarness, _ names: [String]) throws -> [Session] {
        var out: [Session] = []
        for (i, name) in names.enumerated() {
            let hash = Array(String(i).utf8) + [UInt8](repeating: 1, count: 8)
            let session = NewSession(user: name, device: "d", tokenHash: hash, expiresAt: .max)
            _ = try h.wait { h.chat.router.call(CreateUser(user: name, passwordHash: "x", displayName: name, session: session), reply: $0) }.get()
            out.append(Session(user: name, device: "d", tokenHash: hash, expiresAt: .max))
        }
        return out
    }

    func names(_ count: Int, _ prefix: String = "fan") -> [String] { (0..<count).map { String(format: "\(prefix)%05d", $0) } }

    func post(_ h: ChatHarness, _ owner: Session, _ listID: String, clientID: String, body: String = "news") -> Result<Int64, ChatError> {
        let command = try! ListMessageCommand(["client_id": .string(clientID), "kind": "text", "body": .string(body)])
        return h.wait { h.chat.sendToList(owner, listID: listID, command, reply: $0) }
    }

    func progress(_ h: ChatHarness, _ owner: String, _ listID: String, _ clientID: String) throws -> ListMessageStatus {
        try h.wait { h.chat.listMessageProgress(owner: owner, listID: listID, clientID: clientID, reply: $0) }.get()
    }

    /// Plays loop turns (and due retries) until the mass message is done.
    func run(_ h: ChatHarness, _ owner: String, _ listID: String, _ clientID: String, maxTurns: Int = 100_000) throws {
        for _ in 0..<maxTurns {
            let status = try progress(h, owner, listID, clientID)
            if status.done == status.recipients { return }
            h.settle()
            h.fireTimers()
        }
        XCTFail("the mass message did not finish: \(try progress(h, owner, listID, clientID))")
    }

    /// The reader's messages in the direct chat with `other` (none when it does not exist).
    func messages(_ h: ChatHarness, _ reader: Session, with other: String) throws -> [StoredMessage] {
        let id = Identifiers.directConversation(reader.user, other)
        let page = h.wait { h.chat.history(reader, conversationID: id, query: HistoryQuery(limit: 100), reply: $0) }
        if page.failureCode == .forbidden { return [] }
        return try page.get().messages
    }

    func testAMassMessageReachesEveryMemberExactlyOnceAndARepeatStartsNothing() throws {
        let h = try ChatHarness()
        let owner = try users(h, ["star"])[0]
        let fans = try users(h, names(1_100))
        let listID = try h.wait { h.chat.createList(owner, name: "fans", members: fans.map(\.user), reply: $0) }.get()
        let ownerStore = try h.files.store(h.service.shardMap.shard(for: .user("star")))
        let lsnAtPost = ownerStore.lastLSN
        XCTAssertEqual(try post(h, owner, listID, clientID: "m1").get(), 1_100)
        try run(h, "star", listID, "m1")
        // The job's writes on the owner's shard (its record, saved progress, index entries)
        // stay small log entries whatever the list's size: it never copies the members (1,100
        // member rows would be about 40 KB; the largest entry measured here is about 2 KB).
        let largest = try ownerStore.db.queryOne("SELECT max(length(entry)) FROM shard_log WHERE lsn>?", .int(lsnAtPost))?.int(0) ?? 0
        XCTAssertLessThan(largest, 16 * 1024, "largest log entry on the owner's shard since the POST")
        XCTAssertEqual(try post(h, owner, listID, clientID: "m1", body: "other").get(), 1_100, "a repeat answers the same")
        try run(h, "star", listID, "m1")
        for fan in fans {
            let got = try messages(h, fan, with: "star")
            XCTAssertEqual(got.map(\.body), ["news"], fan.user)
            XCTAssertEqual(got.first?.clientID, "list:\(listID):m1")
        }
        XCTAssertEqual(try progress(h, "star", listID, "m1"), ListMessageStatus(recipients: 1_100, done: 1_100))
        // Each recipient's chat is in both indexes: the owner sees all of them.
        XCTAssertEqual(try h.wait { h.chat.conversations(owner, reply: $0) }.get().count, 1_100)
    }

    /// A full list: 100,000 members, every one gets the message once. Takes minutes (the
    /// accounts and 100,000 new chats, in one process), so it runs only with
    /// RELAY_LIST_100K=1 in the environment.
    func testAMassMessageToAFullListOf100000() throws {
        try XCTSkipUnless(ProcessInfo.processInfo.environment["RELAY_LIST_100K"] == "1", "set RELAY_LIST_100K=1 to run")
        let h = try ChatHarness()
        let owner = try users(h, ["star"])[0]
        let all = names(ListLimits.maxMembers, "f")
        var sessions: [Session] = []
        for chunk in stride(from: 0, to: all.count, by: 10_000) { sessions += try users(h, Array(all[chunk..<chunk + 10_000])) }
        let listID = try h.wait { h.chat.createList(owner, name: "all", members: Array(all.prefix(10_000)), reply: $0) }.get()
        for chunk in stride(from: 10_000, to: all.count, by: 10_000) {
            _ = try h.wait { h.chat.addListMembers(owner, listID: listID, members: Array(all[chunk..<chunk + 10_000]), reply: $0) }.get()
        }
        let ownerStore = try h.files.store(h.service.shardMap.shard(for: .user("star")))
        let lsnAtPost = ownerStore.lastLSN
        let started = Date()
        XCTAssertEqual(try post(h, owner, listID, clientID: "m1").get(), 100_000)
        try run(h, "star", listID, "m1", maxTurns: 10_000_000)
        let seconds = Date().timeIntervalSince(started)
        let largest = try ownerStore.db.queryOne("SELECT max(length(entry)) FROM shard_log WHERE lsn>?", .int(lsnAtPost))?.int(0) ?? 0
        XCTAssertLessThan(largest, 16 * 1024)
        for fan in sessions.enumerated().filter({ $0.offset % 500 == 0 }).map(\.element) {
            XCTAssertEqual(try messages(h, fan, with: "star").map(\.body), ["news"], fan.user)
        }
        print(String(format: "100,000 recipients in %.1f s (%.0f/s, one process); largest owner-shard log entry %d bytes",
                     seconds, 100_000 / seconds, largest))
    }

    func testANewPrimaryResumesFromTheSavedProgressWithoutSendingTwice() throws {
        let h = try ChatHarness()
        let owner = try users(h, ["star"])[0]
        let fans = try users(h, names(800))
        let listID = try h.wait { h.chat.createList(owner, name: "fans", members: fans.map(\.user), reply: $0) }.get()
        XCTAssertEqual(try post(h, owner, listID, clientID: "m1").get(), 800)
        let shard = h.service.shardMap.shard(for: .user("star"))
        // Some turns in, the primary stops leading the owner's shard (its job stops), then
        // leads again as a new primary would: from the progress saved on the shard.
        for _ in 0..<3 { h.settle() }
        h.service.abandon(shard: shard)
        h.settle()
        let midway = try progress(h, "star", listID, "m1").done
        XCTAssertGreaterThan(midway, 0)
        XCTAssertLessThan(midway, 800)
        for _ in 0..<5 { h.settle() }
        XCTAssertEqual(try progress(h, "star", listID, "m1").done, midway, "nothing runs while no one leads")
        h.service.startedLeading(shard: shard)
        try run(h, "star", listID, "m1")
        for fan in fans { XCTAssertEqual(try messages(h, fan, with: "star").count, 1, fan.user) }
    }

    func testMembershipChangesAfterThePostDoNotChangeAStartedMessage() throws {
        var flaky: FlakyRouter!
        let h = try ChatHarness { inner in flaky = FlakyRouter(inner); return flaky }
        let owner = try users(h, ["star"])[0]
        let fans = try users(h, ["amy", "ben", "cat", "dan"])
        let listID = try h.wait { h.chat.createList(owner, name: "fans", members: ["amy", "ben", "cat"], reply: $0) }.get()
        flaky.fail(ListMembersPage(owner: "star", listID: listID, version: 1, after: "", limit: ListLimits.batchSize), times: 1)
        XCTAssertEqual(try post(h, owner, listID, clientID: "m1").get(), 3)
        h.settle()
        XCTAssertEqual(try progress(h, "star", listID, "m1").done, 0, "its first step failed; it waits for the retry")
        // Meanwhile ben leaves and dan joins.
        XCTAssertNil(h.wait { h.chat.removeListMember(owner, listID: listID, member: "ben", reply: $0) }.failureCode)
        XCTAssertNil(h.wait { h.chat.addListMembers(owner, listID: listID, members: ["dan"], reply: $0) }.failureCode)
        XCTAssertEqual(try h.wait { h.chat.list(owner, listID: listID, reply: $0) }.get().members, ["amy", "cat", "dan"])
        try run(h, "star", listID, "m1")
        XCTAssertEqual(try fans.map { try messages(h, $0, with: "star").count }, [1, 1, 1, 0], "the list as it was at the POST")
        XCTAssertEqual(try post(h, owner, listID, clientID: "m2").get(), 3)
        try run(h, "star", listID, "m2")
        XCTAssertEqual(try fans.map { try messages(h, $0, with: "star").count }, [2, 1, 2, 1])
        // The removed member's kept row is dropped once no message of the list is sending.
        XCTAssertNil(h.wait { h.chat.removeListMember(owner, listID: listID, member: "dan", reply: $0) }.failureCode)
        let store = try h.files.store(h.service.shardMap.shard(for: .user("star")))
        XCTAssertEqual(try store.db.queryOne("SELECT count(*) FROM list_members WHERE removed_v IS NOT NULL")?.int(0), 0)
    }

    func testARecipientWhoBlocksTheOwnerGetsNothingButIsCountedDone() throws {
        let h = try ChatHarness()
        let owner = try users(h, ["star"])[0]
        let fans = try users(h, ["amy", "ben"])
        _ = try h.wait { h.chat.setBlock(fans[1], target: "star", blocked: true, reply: $0) }.get()
        let listID = try h.wait { h.chat.createList(owner, name: "fans", members: ["amy", "ben"], reply: $0) }.get()
        XCTAssertEqual(try post(h, owner, listID, clientID: "m1").get(), 2)
        try run(h, "star", listID, "m1")
        XCTAssertEqual(try messages(h, fans[0], with: "star").count, 1)
        XCTAssertEqual(try messages(h, fans[1], with: "star").count, 0)
        XCTAssertEqual(try messages(h, owner, with: "ben").count, 1, "the owner's view shows it sent")
        XCTAssertEqual(try progress(h, "star", listID, "m1"), ListMessageStatus(recipients: 2, done: 2))
        h.settle()
        let log = try h.wait { h.chat.moderationLog(user: "ben", limit: 10, retentionMs: 86_400_000, reply: $0) }.get()
        XCTAssertEqual(log.map(\.sender), ["star"])
    }

    func testOnlyTheOwnerSeesOrUsesAList() throws {
        let h = try ChatHarness()
        let sessions = try users(h, ["star", "eve", "amy"])
        let (owner, eve) = (sessions[0], sessions[1])
        let listID = try h.wait { h.chat.createList(owner, name: "fans", members: ["amy"], reply: $0) }.get()
        XCTAssertEqual(h.wait { h.chat.list(eve, listID: listID, reply: $0) }.failureCode, .notFound)
        XCTAssertEqual(h.wait { h.chat.addListMembers(eve, listID: listID, members: ["amy"], reply: $0) }.failureCode, .notFound)
        XCTAssertEqual(h.wait { h.chat.removeListMember(eve, listID: listID, member: "amy", reply: $0) }.failureCode, .notFound)
        XCTAssertEqual(post(h, eve, listID, clientID: "x").failureCode, .notFound)
        XCTAssertEqual(h.wait { h.chat.listMessageProgress(owner: "eve", listID: listID, clientID: "x", reply: $0) }.failureCode, .notFound)
        XCTAssertEqual(try h.wait { h.chat.lists(eve, reply: $0) }.get(), [])
        XCTAssertEqual(try h.wait { h.chat.lists(owner, reply: $0) }.get(), [ListSummary(listID: listID, name: "fans", size: 1)])
    }

    func testMembersAreCheckedAndBounded() throws {
        let h = try ChatHarness()
        let owner = try users(h, ["star", "amy"])[0]
        XCTAssertEqual(h.wait { h.chat.createList(owner, name: "x", members: ["amy", "ghost"], reply: $0) }.failureCode, .notFound)
        XCTAssertEqual(try h.wait { h.chat.lists(owner, reply: $0) }.get(), [], "a refused request changes nothing")
        XCTAssertThrowsError(try ListFields.members(["members": .array(names(10_001).map { .string($0) })], owner: "star", required: true)) {
            XCTAssertEqual(($0 as? ChatError)?.code, .tooLarge)
        }
        XCTAssertThrowsError(try ListFields.members(["members": ["star"]], owner: "star", required: true))
        XCTAssertThrowsError(try ListFields.members(["members": ["Bad Id"]], owner: "star", required: true))
        XCTAssertThrowsError(try ListFields.members(["members": [1]], owner: "star", required: true))
        XCTAssertEqual(try ListFields.members(["members": ["amy", "amy"]], owner: "star", required: true), ["amy"])

        // 100,000 members at most (the shard operation; the front checks the accounts first).
        let listID = try h.wait { h.chat.router.call(CreateList(owner: "star", name: "big", members: []), reply: $0) }.get()
        for chunk in 0..<10 {
            let members = (0..<10_000).map { "m\(chunk)_\($0)" }
            _ = try h.wait { h.chat.router.call(AddListMembers(owner: "star", listID: listID, members: members), reply: $0) }.get()
        }
        let over = h.wait { h.chat.router.call(AddListMembers(owner: "star", listID: listID, members: ["amy"]), reply: $0) }
        XCTAssertEqual(over.failureCode, .conflict)
        XCTAssertEqual(try h.wait { h.chat.lists(owner, reply: $0) }.get().first?.size, 100_000)
    }
}
