import XCTest
@testable import Chat
import JSON
import Store

/// Presence transitions, the privacy rules of last seen and profiles, and the typing limit
/// (docs/PRESENCE.md), through the real shard service.
final class PresenceTests: XCTestCase {
    func setPresence(_ h: ChatHarness, _ updates: [PresenceUpdate]) throws -> [PresenceFanout] {
        try h.wait { h.chat.router.call(SetPresence(updates), reply: $0) }.get()
    }

    func profile(_ h: ChatHarness, _ viewer: Session, _ user: String) throws -> JSONObject {
        try h.wait { h.chat.profile(viewer, user: user, reply: $0) }.get()
    }

    func presence(_ h: ChatHarness, _ viewer: Session, _ user: String) throws -> JSONObject {
        try h.wait { h.chat.presence(viewer, user: user, reply: $0) }.get()
    }

    func patch(_ h: ChatHarness, _ s: Session, _ body: JSONObject) throws -> JSONObject {
        try h.wait { h.chat.updateProfile(s, try! ProfilePatch(body), reply: $0) }.get()
    }

    func testOnlyTransitionsAreStoredAndAnsweredAndGoingOfflineStoresLastSeen() throws {
        let h = try ChatHarness()
        let alice = try h.signup("alice")
        _ = try h.signup("bob")
        _ = try h.send(alice, to: "bob", "hi", clientID: "c1").get()

        let on = try setPresence(h, [PresenceUpdate(user: "alice", online: true)])
        XCTAssertEqual(on.map(\.user), ["alice"])
        XCTAssertEqual(on.first?.partners, ["bob"], "the direct chat's other member hears of it")
        XCTAssertEqual(try setPresence(h, [PresenceUpdate(user: "alice", online: true)]), [], "a repeat is no transition")
        XCTAssertEqual(try setPresence(h, [PresenceUpdate(user: "nosuchuser", online: true)]), [], "unknown users are skipped")

        h.now += 5_000
        let off = try setPresence(h, [PresenceUpdate(user: "alice", online: false)])
        let event = try JSON.parse(off[0].eventText)
        XCTAssertEqual(event["type"]?.stringValue, "presence")
        XCTAssertEqual(event["online"], .bool(false))
        XCTAssertEqual(event["last_seen"]?.intValue, h.now)
        XCTAssertEqual(try setPresence(h, [PresenceUpdate(user: "alice", online: false)]), [])
        h.now += 60_000
        XCTAssertEqual(try presence(h, alice, "alice")["last_seen"]?.intValue, h.now - 60_000, "last seen stays at the transition")
    }

    func testAUserTheyBlockedHearsNothingOfTheirPresence() throws {
        let h = try ChatHarness()
        let alice = try h.signup("alice"), bob = try h.signup("bob")
        _ = try h.send(alice, to: "bob", "hi", clientID: "c1").get()
        XCTAssertNil(h.wait { h.chat.setBlock(alice, target: "bob", blocked: true, reply: $0) }.failureCode)
        XCTAssertEqual(try setPresence(h, [PresenceUpdate(user: "alice", online: true)]).first?.partners, [])
        XCTAssertEqual(try presence(h, bob, "alice"), ["user": "alice", "online": false, "last_seen": .null])
    }

    func testLastSeenAndOnlineFollowTheSettingForEachViewer() {
        var p = Profile(user: "alice", displayName: "A", about: "x", avatar: "a_1", lastSeenVisibility: .everyone,
                        profileVisibility: .everyone, online: false, lastSeen: 42)
        let relations: [Relation] = [.me, .contact, .stranger, .blocked]
        func seen(_ v: Visibility) -> [Bool] {
            p.lastSeenVisibility = v
            return relations.map { ProfileRules.showsLastSeen(p, to: $0) }
        }
        func online(_ v: Visibility) -> [Bool] {
            p.lastSeenVisibility = v
            return relations.map { ProfileRules.showsOnline(p, to: $0) }
        }
        XCTAssertEqual(seen(.everyone), [true, true, true, false])
        XCTAssertEqual(seen(.contacts), [true, true, false, false])
        XCTAssertEqual(seen(.nobody), [true, false, false, false])
        XCTAssertEqual(online(.nobody), [true, true, false, false], "contacts still see online")
        p.lastSeenVisibility = .nobody
        let event = try! JSON.parse(ProfileRules.presenceEvent(p, now: 99).text)
        XCTAssertEqual(event["last_seen"], .null, "events honour nobody")
        p.lastSeenVisibility = .contacts
        XCTAssertEqual(try! JSON.parse(ProfileRules.presenceEvent(p, now: 99).text)["last_seen"]?.intValue, 42,
                       "every recipient of an event is a contact")
        p.online = true
        XCTAssertEqual(ProfileRules.presence(p, to: .contact, now: 99)["last_seen"]?.intValue, 99, "while online, last seen is now")
    }

    func testProfileVisibilityHidesAboutAndAvatarButNeverTheDisplayName() throws {
        let h = try ChatHarness()
        let alice = try h.signup("alice"), bob = try h.signup("bob"), carol = try h.signup("carol")
        _ = try h.send(alice, to: "bob", "hi", clientID: "c1").get()
        let own = try patch(h, alice, ["display_name": "Al", "about": "hey", "avatar": "a_abc", "profile_visibility": "contacts",
                                       "last_seen_visibility": "contacts"])
        XCTAssertEqual(own["profile_visibility"], "contacts")
        XCTAssertEqual(own["last_seen_visibility"], "contacts")
        XCTAssertEqual(try profile(h, bob, "alice")["about"], "hey")
        XCTAssertEqual(try profile(h, bob, "alice")["avatar"], "a_abc")
        let stranger = try profile(h, carol, "alice")
        XCTAssertEqual(stranger["display_name"], "Al")
        XCTAssertEqual(stranger["about"], .null)
        XCTAssertEqual(stranger["avatar"], .null)
        XCTAssertNil(stranger["last_seen"], "hidden last seen is left out of the profile")
        XCTAssertNil(stranger["profile_visibility"], "settings are the user's own business")
        XCTAssertEqual(h.wait { h.chat.profile(bob, user: "nosuchuser", reply: $0) }.failureCode, .notFound)
        XCTAssertEqual(try profile(h, alice, "me")["user"], "alice")
    }

    func testTheGroupsCurrentMembersAreContactsAndLeftMembersAreNot() throws {
        let h = try ChatHarness()
        let alice = try h.signup("alice"), dave = try h.signup("dave")
        _ = try patch(h, alice, ["last_seen_visibility": "contacts"])
        let group = try h.wait { h.chat.createGroup(alice, .init(title: "g", members: ["dave"], historyVisible: true), reply: $0) }.get()
        _ = try setPresence(h, [PresenceUpdate(user: "alice", online: true)])
        XCTAssertEqual(try presence(h, dave, "alice")["online"], .bool(true))
        let fan = try setPresence(h, [PresenceUpdate(user: "alice", online: false)])
        XCTAssertEqual(fan.first?.groups, [group])
        XCTAssertEqual(try h.wait { h.chat.router.call(PresenceAudience(conversationID: group, user: "alice"), reply: $0) }.get(),
                       ["alice", "dave"])
        XCTAssertNil(h.wait { h.chat.removeMember(dave, group: group, user: "dave", requestID: nil, reply: $0) }.failureCode)
        XCTAssertEqual(try presence(h, dave, "alice")["last_seen"], .null, "a member who left is no contact")
        XCTAssertEqual(try h.wait { h.chat.router.call(PresenceAudience(conversationID: group, user: "dave"), reply: $0) }.get(), [])
    }

    func testTypingGoesOutAtMostOncePerSecondPerUserAndConversation() throws {
        let h = try ChatHarness()
        let alice = try h.signup("alice")
        _ = try h.signup("bob")
        _ = try h.send(alice, to: "bob", "hi", clientID: "c1").get()
        func typingEvents() -> Int { h.sink.events(for: "bob").filter { $0["type"]?.stringValue == "typing" }.count }
        for _ in 0..<10 { XCTAssertNil(h.wait { h.chat.typing(alice, conversationID: "dm:alice:bob", reply: $0) }.failureCode) }
        XCTAssertEqual(typingEvents(), 1)
        h.now += 1_000
        _ = h.wait { h.chat.typing(alice, conversationID: "dm:alice:bob", reply: $0) }
        XCTAssertEqual(typingEvents(), 2)
        XCTAssertEqual(try h.wait { h.chat.history(alice, conversationID: "dm:alice:bob", query: HistoryQuery(limit: 100), reply: $0) }
            .get().messages.map(\.body), ["hi"], "never stored")
    }

    func testBadPatchesAreRefused() {
        for body: JSONObject in [["avatar": "x"], ["avatar": 3], ["last_seen_visibility": "friends"], ["display_name": ""],
                                 ["about": .string(String(repeating: "x", count: 1_025))], ["profile_visibility": .bool(true)]] {
            XCTAssertThrowsError(try ProfilePatch(body), "\(body)")
        }
        XCTAssertEqual(try ProfilePatch(["avatar": .null]).avatar, "", "null clears the avatar")
    }
}
