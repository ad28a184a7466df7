import XCTest
@testable import Chat

final class KeyDirectoryTests: XCTestCase {
    func put(_ h: ChatHarness, _ s: Session, device: String, identity: String = "aWRlbnRpdHk=", prekeys: [String])
        -> Result<Void, ChatError> {
        h.wait { h.chat.putKeys(s, device: device, identityKey: identity, signedPrekey: "c2lnbmVk", oneTimePrekeys: prekeys, reply: $0) }
    }

    func take(_ h: ChatHarness, _ s: Session, _ user: String) -> Result<[KeyBundle], ChatError> {
        h.wait { h.chat.keyBundles(s, user: user, reply: $0) }
    }

    func count(_ h: ChatHarness, _ s: Session, _ device: String) throws -> Int64 {
        try h.wait { h.chat.prekeyCount(s, device: device, reply: $0) }.get()
    }

    func testEachOneTimePrekeyIsHandedOutOncePerDevice() throws {
        let h = try ChatHarness()
        let alice = try h.signup("alice"), bob = try h.signup("bob")
        XCTAssertNil(put(h, alice, device: "phone", prekeys: ["cDE=", "cDI=", "cDM="]).failureCode)
        XCTAssertNil(put(h, alice, device: "web", prekeys: ["dzE="]).failureCode)
        XCTAssertEqual(try count(h, alice, "phone"), 3)

        var handed: [String] = []
        for _ in 0..<4 {
            let bundles = try take(h, bob, "alice").get()
            XCTAssertEqual(bundles.map(\.device), ["phone", "web"])
            XCTAssertEqual(bundles.first?.identityKey, "aWRlbnRpdHk=")
            handed += bundles.compactMap(\.oneTimePrekey)
        }
        XCTAssertEqual(handed.sorted(), ["cDE=", "cDI=", "cDM=", "dzE="], "each prekey once, then bundles without one")
        XCTAssertEqual(try count(h, alice, "phone"), 0)
    }

    func testARetriedUploadDoesNotBringBackAUsedPrekeyAndANewIdentityDropsTheOldOnes() throws {
        let h = try ChatHarness()
        let alice = try h.signup("alice"), bob = try h.signup("bob")
        XCTAssertNil(put(h, alice, device: "phone", prekeys: ["cDE=", "cDI="]).failureCode)
        XCTAssertEqual(try take(h, bob, "alice").get().first?.oneTimePrekey, "cDE=")
        XCTAssertNil(put(h, alice, device: "phone", prekeys: ["cDE=", "cDI=", "cDI="]).failureCode, "the same batch again")
        XCTAssertEqual(try count(h, alice, "phone"), 1, "cDE= was used; cDI= is there once")

        XCTAssertNil(put(h, alice, device: "phone", identity: "bmV3", prekeys: ["cTE="]).failureCode)
        let bundle = try take(h, bob, "alice").get()
        XCTAssertEqual(bundle.first?.identityKey, "bmV3")
        XCTAssertEqual(bundle.first?.oneTimePrekey, "cTE=", "prekeys of the old identity are gone")
    }

    func testBadKeysAndUnknownUsersAreRefused() throws {
        let h = try ChatHarness()
        let alice = try h.signup("alice")
        XCTAssertEqual(put(h, alice, device: "phone", prekeys: ["not base64!"]).failureCode, .badRequest)
        XCTAssertEqual(put(h, alice, device: "", prekeys: []).failureCode, .badRequest)
        XCTAssertEqual(put(h, alice, device: "phone", prekeys: (0..<101).map { "cA\($0 % 10)=" }).failureCode, .badRequest)
        XCTAssertEqual(take(h, alice, "nobody").failureCode, .notFound)
        XCTAssertEqual(try take(h, alice, "alice").get(), [], "a user without keys has no bundles")
    }

    func testUnusedPrekeysPerDeviceAreBounded() throws {
        let h = try ChatHarness()
        let alice = try h.signup("alice")
        for batch in 0..<5 {
            let keys = (0..<100).map { Base64Key.make(batch * 100 + $0) }
            XCTAssertNil(put(h, alice, device: "phone", prekeys: keys).failureCode)
        }
        XCTAssertEqual(put(h, alice, device: "phone", prekeys: [Base64Key.make(9_999)]).failureCode, .conflict)
        XCTAssertEqual(try count(h, alice, "phone"), 500)
    }
}

private enum Base64Key {
    static func make(_ n: Int) -> String { "a2V5" + String(format: "%08d", n) }
}
