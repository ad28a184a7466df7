import XCTest
@testable import Chat
import JSON
import Store

/// Who may read an asset, and what a message may carry (PROTOCOL.md "Rules that the server
/// enforces": assets), through the front and the shard service.
final class AssetTests: XCTestCase {
    let sha = String(repeating: "ab", count: 32)

    func register(_ h: ChatHarness, _ id: String, by uploader: String) throws {
        let meta = AssetMeta(assetID: id, sha256: sha, size: 10, contentType: "image/png", uploader: uploader, createdAt: 0)
        _ = try h.wait { h.chat.router.call(RegisterAsset(meta), reply: $0) }.get()
    }

    func canRead(_ h: ChatHarness, _ id: String, _ user: String) throws -> Bool {
        try h.wait { h.chat.canRead(asset: id, user: user, reply: $0) }.get()
    }

    func send(_ h: ChatHarness, _ s: Session, _ target: (String, String), kind: String = "image", assets: [String], clientID: String) -> Result<Ack, ChatError> {
        let command = try! SendCommand(["client_id": .string(clientID), .init(target.0): .string(target.1), "kind": .string(kind),
                                        "body": "", "attachments": .array(assets.map { .string($0) })])
        return h.wait { h.chat.send(s, command, origin: nil, reply: $0) }
    }

    /// Lets outbox jobs (the refs a message records) run to their end.
    func drain(_ h: ChatHarness) { for _ in 0..<10 { h.fireTimers(); h.settle() } }

    func testTheUploaderAloneReadsAnAssetNoMessageCarries() throws {
        let h = try ChatHarness()
        _ = try h.signup("alice"); _ = try h.signup("bob")
        let id = "a_" + String(repeating: "1", count: 32)
        try register(h, id, by: "alice")
        XCTAssertTrue(try canRead(h, id, "alice"))
        XCTAssertFalse(try canRead(h, id, "bob"))
        XCTAssertFalse(try canRead(h, "a_" + String(repeating: "2", count: 32), "alice"), "no such asset")
        XCTAssertFalse(try canRead(h, "not-an-id", "alice"))
    }

    func testAMessageMayCarryOnlyAssetsItsSenderCanRead() throws {
        let h = try ChatHarness()
        let alice = try h.signup("alice"), bob = try h.signup("bob")
        _ = try h.signup("carol")
        let id = "a_" + String(repeating: "3", count: 32)
        try register(h, id, by: "alice")
        XCTAssertEqual(send(h, bob, ("to", "alice"), assets: [id], clientID: "b1").failureCode, .notFound, "bob cannot read it")
        XCTAssertEqual(send(h, alice, ("to", "bob"), assets: ["a_" + String(repeating: "4", count: 32)], clientID: "a0").failureCode,
                       .notFound, "no such asset")
        XCTAssertNoThrow(try send(h, alice, ("to", "bob"), assets: [id], clientID: "a1").get())
        drain(h)
        XCTAssertTrue(try canRead(h, id, "bob"), "a member of a chat that carries it")
        XCTAssertFalse(try canRead(h, id, "carol"))
        XCTAssertNoThrow(try send(h, bob, ("to", "carol"), assets: [id], clientID: "b2").get(), "bob forwards what he can read")
        drain(h)
        XCTAssertTrue(try canRead(h, id, "carol"))
        XCTAssertThrowsError(try SendCommand(["client_id": "x", "to": "bob", "kind": "video", "body": ""]), "media needs an asset")
    }

    func testARemovedMemberKeepsWhatTheyCouldReadButNotLaterAssets() throws {
        let h = try ChatHarness()
        let alice = try h.signup("alice"), bob = try h.signup("bob")
        let group = try h.wait { h.chat.createGroup(alice, .init(title: "T", members: ["bob"], historyVisible: false), reply: $0) }.get()
        let before = "a_" + String(repeating: "5", count: 32), after = "a_" + String(repeating: "6", count: 32)
        try register(h, before, by: "alice")
        try register(h, after, by: "alice")
        XCTAssertNoThrow(try send(h, alice, ("conversation_id", group), assets: [before], clientID: "g1").get())
        drain(h)
        XCTAssertTrue(try canRead(h, before, "bob"))
        XCTAssertNil(h.wait { h.chat.removeMember(alice, group: group, user: "bob", reply: $0) }.failureCode)
        XCTAssertNoThrow(try send(h, alice, ("conversation_id", group), assets: [after], clientID: "g2").get())
        drain(h)
        XCTAssertTrue(try canRead(h, before, "bob"), "what he could read stays readable")
        XCTAssertFalse(try canRead(h, after, "bob"), "sent after his removal")
        // A member who joined later without history does not see assets of earlier messages.
        let carol = try h.signup("carol")
        _ = carol
        XCTAssertNil(h.wait { h.chat.addMember(alice, group: group, user: "carol", reply: $0) }.failureCode)
        XCTAssertFalse(try canRead(h, before, "carol"))
    }

    func testAMessageHiddenByABlockGivesTheBlockerNoAccess() throws {
        let h = try ChatHarness()
        let alice = try h.signup("alice"), bob = try h.signup("bob")
        let id = "a_" + String(repeating: "9", count: 32)
        try register(h, id, by: "alice")
        XCTAssertNoThrow(try send(h, alice, ("to", "bob"), kind: "text", assets: [], clientID: "hello").get())
        XCTAssertNil(h.wait { h.chat.setBlock(bob, target: "alice", blocked: true, reply: $0) }.failureCode)
        XCTAssertNoThrow(try send(h, alice, ("to", "bob"), assets: [id], clientID: "hidden").get())
        drain(h)
        XCTAssertFalse(try canRead(h, id, "bob"), "the message is hidden from him")
    }

    func testAWidelyForwardedAssetStillFindsTheReadersOwnChat() throws {
        let h = try ChatHarness()
        let alice = try h.signup("alice")
        _ = try h.signup("zed")
        let id = "a_" + String(repeating: "a", count: 32)
        try register(h, id, by: "alice")
        for i in 0..<(AssetLimits.maxRefsChecked + 10) {
            _ = try h.wait { h.chat.router.call(AddAssetRef(assetID: id, conversationID: "dm:aaa:b\(i)", seq: 1), reply: $0) }.get()
            _ = try h.wait { h.chat.router.call(AddAssetRef(assetID: id, conversationID: "grp:g\(i)", seq: 1), reply: $0) }.get()
        }
        XCTAssertNoThrow(try send(h, alice, ("to", "zed"), assets: [id], clientID: "z1").get())
        drain(h)
        XCTAssertTrue(try canRead(h, id, "zed"), "dm:alice:zed is found among 148 other refs")
    }

    func testAProfileTakesOnlyAnAvatarItsOwnerCanReadAndMakesItReadableToOthers() throws {
        let h = try ChatHarness()
        let alice = try h.signup("alice")
        _ = try h.signup("bob")
        let mine = "a_" + String(repeating: "b", count: 32), bobs = "a_" + String(repeating: "d", count: 32)
        let next = "a_" + String(repeating: "e", count: 32)
        try register(h, mine, by: "alice")
        try register(h, bobs, by: "bob")
        try register(h, next, by: "alice")
        let patch = { (avatar: String) in h.wait { h.chat.updateProfile(alice, try! ProfilePatch(["avatar": .string(avatar)]), reply: $0) } }
        XCTAssertEqual(patch(bobs).failureCode, .notFound, "not hers to show")
        XCTAssertFalse(try canRead(h, mine, "bob"))
        XCTAssertEqual(try patch(mine).get()["avatar"], .string(mine))
        XCTAssertTrue(try canRead(h, mine, "bob"), "an avatar is readable by whoever sees the profile (everyone by default)")
        XCTAssertEqual(try patch(next).get()["avatar"], .string(next))
        h.settle()
        XCTAssertTrue(try canRead(h, next, "bob"))
        XCTAssertFalse(try canRead(h, mine, "bob"), "the replaced avatar is alice's alone again")
    }

    func testAnAvatarIsReadableByWhoeverSeesTheProfileAndUnreferencedAssetsArePrunedAfterTheGrace() throws {
        let h = try ChatHarness()
        let alice = try h.signup("alice"); _ = try h.signup("bob")
        let avatar = "a_" + String(repeating: "7", count: 32), loose = "a_" + String(repeating: "8", count: 32)
        try register(h, avatar, by: "alice")
        try register(h, loose, by: "alice")
        XCTAssertNoThrow(try h.wait { h.chat.setAvatar(asset: avatar, user: "alice", set: true, reply: $0) }.get())
        XCTAssertFalse(try canRead(h, avatar, "bob"), "a ref alone is not enough: the profile must show it")
        let patch = try ProfilePatch(["avatar": .string(avatar)])
        XCTAssertNoThrow(try h.wait { h.chat.updateProfile(alice, patch, reply: $0) }.get())
        XCTAssertTrue(try canRead(h, avatar, "bob"), "profile_visibility is everyone by default")
        let hidden = try ProfilePatch(["profile_visibility": .string("nobody")])
        XCTAssertNoThrow(try h.wait { h.chat.updateProfile(alice, hidden, reply: $0) }.get())
        XCTAssertFalse(try canRead(h, avatar, "bob"), "hidden with the profile")
        let pruned = try h.files.shardsOnDisk().reduce(Int64(0)) { sum, shard in
            sum + (try h.files.store(shard).pruneUnreferencedAssets(olderThan: h.now + 1, limit: 100))
        }
        h.settle()
        XCTAssertEqual(pruned, 1, "the loose one only: the avatar is referenced")
        XCTAssertFalse(try canRead(h, loose, "alice"))
        XCTAssertTrue(try canRead(h, avatar, "alice"))
    }
}
