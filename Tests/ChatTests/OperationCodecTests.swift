import XCTest
@testable import Chat
import Store
import Wire

/// Every shard operation and its replies survive the peer protocol's encoding, and hostile
/// bytes never trap. The examples are checked against the full list of operations: adding
/// one without an example here fails `testEveryOperationHasAnExample`.
final class OperationCodecTests: XCTestCase {
    static let session = NewSession(user: "alice", device: "phone", tokenHash: Array(repeating: 7, count: 32), expiresAt: 99)
    static let message = StoredMessage(conversationID: "dm:alice:bob", seq: 12, messageID: "m_1", sender: "alice", clientID: "c-1",
                                       ts: 1_763_700_000_000, kind: "tip", body: "thanks \u{0} 😀", attachments: ["a_1", "a_2"],
                                       tip: Tip(amountCents: 500, currency: "EUR"))

    /// One operation with replies to round-trip, type-erased.
    struct Example: Sendable {
        let code: OperationCode
        let encoded: [(code: UInt16, payload: [UInt8])]
        let roundTrip: @Sendable () throws -> Void
    }

    static func example<Op: ShardOperation>(_ ops: [Op], replies: [Op.Reply]) -> Example {
        Example(code: Op.code, encoded: ops.map { Operations.encode($0) }) {
            for op in ops {
                let (code, payload) = Operations.encode(op)
                XCTAssertEqual(code, Op.code.rawValue)
                XCTAssertEqual(try Operations.decode(code: code, payload: payload) as? Op, op)
            }
            let results: [Result<Op.Reply, ChatError>] = replies.map { .success($0) }
                + [.failure(ChatError(.forbidden, "not a member")), .failure(ChatError(.unavailable, "try again", retryAfterMs: 250))]
            for result in results {
                XCTAssertEqual(try Operations.decodeResult(Operations.encode(result: result, of: Op.self), of: Op.self), result)
            }
        }
    }

    static let examples: [Example] = [
        example([CreateUser(user: "alice", passwordHash: "$y$j9T$x", displayName: "Alice", session: session)], replies: [Done()]),
        example([PasswordHash(user: "alice")], replies: ["$y$abc", nil]),
        example([CreateSession(session)], replies: [Done()]),
        example([FindSession(user: "alice", tokenHash: [1, 2, 3])],
                replies: [SessionRecord(user: "alice", device: "d", expiresAt: 5), nil]),
        example([DeleteSession(user: "alice", tokenHash: [4])], replies: [true, false]),
        example([UserExists(user: "bob")], replies: [true, false]),
        example([AddToIndex(user: "bob", conversationID: "dm:alice:bob")], replies: [Done()]),
        example([ConversationIndex(user: "bob")], replies: [["a", "b"], []]),
        example([OpenDirect(conversationID: "dm:alice:bob")], replies: [Done()]),
        example([ConversationExists(conversationID: "dm:alice:bob")], replies: [true]),
        example([Summaries(user: "bob", conversationIDs: ["dm:alice:bob", "dm:bob:carol"])],
                replies: [[ConversationSummary(conversationID: "dm:alice:bob", kind: "direct", title: "bob", lastSeq: 9,
                                               lastTs: 8, delivered: 7, read: 6, unread: 3)], []]),
        example([SendMessage(NewMessage(conversationID: "dm:alice:bob", sender: "alice", clientID: "c", kind: .text, body: "hi",
                                        attachments: [], tip: nil, origin: ConnectionRef(node: "n2", id: 42))),
                 SendMessage(NewMessage(conversationID: "dm:alice:bob", sender: "alice", clientID: "c", kind: .tip, body: "",
                                        attachments: ["a"], tip: Tip(amountCents: 1, currency: "USD"), origin: nil))],
                replies: [Ack(clientID: "c", conversationID: "dm:alice:bob", seq: 3, messageID: "m", ts: -1)]),
        example([History(conversationID: "dm:alice:bob", reader: "bob", query: HistoryQuery(after: 3, before: nil, limit: 50)),
                 History(conversationID: "dm:alice:bob", reader: "bob", query: HistoryQuery(after: nil, before: 9, limit: 100))],
                replies: [History.Page(messages: [message, message], hasMore: true), History.Page(messages: [], hasMore: false)]),
        example([Typing(conversationID: "dm:alice:bob", user: "bob")], replies: [Done()]),
        example([SetCursors(conversationID: "dm:alice:bob", user: "bob", delivered: nil, read: 4)],
                replies: [SetCursors.Cursors(delivered: 5, read: 4)]),
        example([SaveJobProgress(origin: .conversation("dm:alice:bob"), jobID: "index:dm:alice:bob", change: .progress([1, 2])),
                 SaveJobProgress(origin: .user("alice"), jobID: "j", change: .finished)], replies: [true, false]),
        example([CreateGroup(conversationID: "grp:abc", creator: "alice", title: "Team 😀", members: ["bob", "carol"], historyVisible: false)],
                replies: [Done()]),
        example([ReadGroup(conversationID: "grp:abc", reader: "bob")], replies: [group]),
        example([AddMember(conversationID: "grp:abc", by: "alice", user: "dave", limit: 10_000),
                 AddMember(conversationID: "grp:abc", by: "alice", user: "dave", limit: 5, requestID: "alice:k1")], replies: [Done()]),
        example([RemoveMember(conversationID: "grp:abc", by: "alice", user: "dave")], replies: [Done()]),
        example([SetRole(conversationID: "grp:abc", by: "alice", user: "bob", role: .admin),
                 SetRole(conversationID: "grp:abc", by: "alice", user: "bob", role: .member)], replies: [Done()]),
        example([UpdateGroup(conversationID: "grp:abc", by: "alice", title: "New", historyVisible: nil),
                 UpdateGroup(conversationID: "grp:abc", by: "alice", title: nil, historyVisible: true)], replies: [group]),
        example([CreateInvite(conversationID: "grp:abc", by: "alice", inviteCode: "abc.0123", maxUses: 5, expiresInS: nil)],
                replies: [invite]),
        example([ListInvites(conversationID: "grp:abc", by: "alice")], replies: [[invite, invite], []]),
        example([RevokeInvite(inviteCode: "abc.0123", by: "alice")], replies: [Done()]),
        example([AcceptInvite(inviteCode: "abc.0123", user: "bob", limit: 10)], replies: ["grp:abc"]),
        example([ChargeTip(message: NewMessage(conversationID: "dm:alice:bob", sender: "alice", clientID: "t1", kind: .tip, body: "ty",
                                               attachments: [], tip: Tip(amountCents: 250, currency: "USD"),
                                               origin: ConnectionRef(node: "n1", id: 7)), recipient: "bob", payer: .ledger),
                 ChargeTip(message: NewMessage(conversationID: "dm:alice:bob", sender: "alice", clientID: "t2", kind: .tip, body: "",
                                               attachments: [], tip: Tip(amountCents: 1, currency: "USD"), origin: nil),
                           recipient: "bob", payer: .paid),
                 ChargeTip(message: NewMessage(conversationID: "dm:alice:bob", sender: "alice", clientID: "t3", kind: .tip, body: "",
                                               attachments: [], tip: Tip(amountCents: 1, currency: "USD"), origin: nil),
                           recipient: "bob", payer: .lookup)],
                replies: [.charged, .declined, .unknown]),
        example([WalletOf(user: "bob")], replies: [Wallet(balanceCents: 5, receivedCents: 250, currency: "USD"), .empty]),
        example([CreditReceived(user: "bob", entryID: "tip:alice:t1", amountCents: 250, currency: "USD")], replies: [Done()]),
        example([CreditWallet(user: "alice", entryID: "credit:k", amountCents: 1_000)],
                replies: [Wallet(balanceCents: 1_000, receivedCents: 0, currency: "USD")]),
        example([RevokeSessions(user: "alice")], replies: [[[1, 2, 3], Array(repeating: 9, count: 32)], []]),
        // Blocks and the moderation log; creator lists.
        example([SetBlock(user: "bob", target: "alice", blocked: true), SetBlock(user: "bob", target: "alice", blocked: false)],
                replies: [Done()]),
        example([BlockList(user: "bob")], replies: [["alice", "carol"], []]),
        example([SetDirectBlock(blocker: "bob", blocked: "alice", active: true, version: 3)], replies: [Done()]),
        example([RecordModeration(user: "bob", entry: moderation)], replies: [Done()]),
        example([ModerationLog(user: "bob", since: 5, limit: 100)], replies: [[moderation, moderation], []]),
        example([UsersExist(users: ["alice", "bob"])], replies: [["bob"], []]),
        example([CreateList(owner: "alice", name: "fans", members: ["bob", "carol"])], replies: ["lst_0123456789abcdef01234567"]),
        example([AddListMembers(owner: "alice", listID: "lst_1", members: ["dave"])], replies: [Done()]),
        example([RemoveListMember(owner: "alice", listID: "lst_1", member: "dave")], replies: [Done()]),
        example([ListsOf(owner: "alice")], replies: [[ListSummary(listID: "lst_1", name: "fans", size: 2)], []]),
        example([ListDetail(owner: "alice", listID: "lst_1")], replies: [ListDetail.Detail(name: "fans", members: ["bob", "carol"])]),
        example([ListMembersPage(owner: "alice", listID: "lst_1", version: 4, after: "bob", limit: 250)], replies: [["carol"], []]),
        example([CreateListMessage(owner: "alice", listID: "lst_1", clientID: "c-9", kind: .text, body: "hello 😀"),
                 CreateListMessage(owner: "alice", listID: "lst_1", clientID: "c-8", kind: .image, body: "", attachments: ["a_1"])], replies: [2, 0]),
        example([ListMessageProgress(owner: "alice", listID: "lst_1", clientID: "c-9")],
                replies: [ListMessageStatus(recipients: 10, done: 4)]),
        example([PutKeys(user: "alice", device: "phone", identityKey: "aWQ=", signedPrekey: "c3Br", oneTimePrekeys: ["b3Ax", "b3Ay"]),
                 PutKeys(user: "alice", device: "web", identityKey: "aWQ=", signedPrekey: "c3Br", oneTimePrekeys: [])], replies: [Done()]),
        example([TakeKeyBundles(user: "alice")],
                replies: [[KeyBundle(device: "phone", identityKey: "aWQ=", signedPrekey: "c3Br", oneTimePrekey: "b3Ax"),
                           KeyBundle(device: "web", identityKey: "aWQ=", signedPrekey: "c3Br", oneTimePrekey: nil)], [], nil]),
        example([PrekeyCount(user: "alice", device: "phone")], replies: [Int64(3)]),
        // Presence and profiles.
        example([SetPresence([PresenceUpdate(user: "alice", online: true), PresenceUpdate(user: "bob", online: false)])],
                replies: [[PresenceFanout(user: "alice", online: true, eventText: "{\"type\":\"presence\"}", partners: ["bob"],
                                          groups: ["grp:abc"], hidden: ["carol"])], []]),
        example([PresenceAudience(conversationID: "grp:abc", user: "alice")], replies: [["alice", "bob"], []]),
        example([AreMembers(conversationID: "grp:abc", users: ["alice", "bob"])], replies: [true, false]),
        example([ReadProfile(user: "alice", viewer: "bob")],
                replies: [ProfileRead(profile: profile, blocksViewer: false, direct: true, groups: ["grp:abc"]), nil]),
        example([UpdateProfile(user: "alice", patch: ProfilePatch(displayName: "Al 😀", about: "", avatar: "a_1",
                                                                 lastSeenVisibility: .contacts, profileVisibility: .nobody)),
                 UpdateProfile(user: "alice", patch: ProfilePatch())], replies: [profile]),
        // Assets.
        example([RegisterAsset(asset)], replies: [Done()]),
        example([AssetAccess(assetID: "a_1", reader: "bob")],
                replies: [AssetAccess.Grant(meta: asset, readable: false, refs: [.init(conversationID: "grp:abc", seq: 3)]),
                          AssetAccess.Grant(meta: nil, readable: false, refs: [])]),
        example([AddAssetRef(assetID: "a_1", conversationID: "dm:alice:bob", seq: 9)], replies: [Done()]),
        example([SetAvatarRef(assetID: "a_1", user: "alice", set: true)], replies: [Done()]),
        example([CanReadSeq(conversationID: "grp:abc", reader: "bob", seq: 4)], replies: [true, false]),
        // Notifications, mute and devices; the device fields of SetCursors and Summaries.
        example([AddNotification(user: "bob", conversationID: "dm:alice:bob", seq: 3, sender: "alice", preview: "hi 😀", ts: 5)],
                replies: [true, false]),
        example([NotificationList(user: "bob", after: 2, limit: 100)],
                replies: [[ChatNotification(id: 3, conversationID: "grp:abc", seq: 9, sender: "alice", preview: "", ts: 7)], []]),
        example([ClearNotifications(user: "bob", conversationID: "dm:alice:bob", read: 4)], replies: [Done()]),
        example([SetMute(user: "bob", conversationID: "grp:abc", muted: true)], replies: [Done()]),
        example([NotificationRecipients(conversationID: "grp:abc", seq: 9, sender: "alice", after: "bob", limit: 100)],
                replies: [["carol"], []]),
        example([DeviceSeen(user: "bob", device: "phone", node: "n2", online: true)], replies: [Int64(1_763_700_000_000)]),
        example([DeviceList(user: "bob")], replies: [[DeviceInfo(device: "phone", node: "n2", online: true, lastSeen: 4)], []]),
        example([RevokeDevice(user: "bob", device: "phone")], replies: [[[1, 2, 3]], []]),
        example([SetCursors(conversationID: "dm:alice:bob", user: "bob", delivered: 3, read: nil, device: "tablet")],
                replies: [SetCursors.Cursors(delivered: 5, read: 4)]),
        example([Summaries(user: "bob", conversationIDs: ["dm:alice:bob"], device: "tablet", deviceFirstSeen: 9)], replies: [[]]),
    ]
    static let profile = Profile(user: "alice", displayName: "Alice", about: "hi \u{0}", avatar: "a_x", lastSeenVisibility: .nobody,
                                 profileVisibility: .contacts, online: true, lastSeen: 1_763_700_000_000)
    static let asset = AssetMeta(assetID: "a_1", sha256: String(repeating: "ab", count: 32), size: 1 << 20,
                                 contentType: "image/png", uploader: "alice", createdAt: 1_763_700_000_000)
    static let group = GroupInfo(conversationID: "grp:abc", title: "Team", historyVisible: true, members: [
        MemberRecord(conversationID: "grp:abc", user: "alice", role: "admin", joinedSeq: 0, leftSeq: nil, delivered: 4, read: 3),
        MemberRecord(conversationID: "grp:abc", user: "bob", role: "member", joinedSeq: 2, leftSeq: nil, delivered: 0, read: 0),
    ])
    static let invite = Invite(code: "abc.0123", conversationID: "grp:abc", createdBy: "alice", maxUses: nil, uses: 3,
                               expiresAt: 1_763_700_000_000, revoked: false)
    static let moderation = ModerationEntry(sender: "alice", conversationID: "dm:alice:bob", seq: 4, ts: 1_763_700_000_000,
                                            preview: "hi \u{0} 😀")

    func testEveryOperationHasAnExample() {
        let listed = Set(Operations.all.map { $0.code })
        XCTAssertEqual(listed, Set(OperationCode.allCases), "an operation code without an operation, or the reverse")
        XCTAssertEqual(Set(Self.examples.map(\.code)), listed, "an operation without a codec example")
    }

    func testEveryOperationAndReplyRoundTrips() throws {
        for example in Self.examples { try example.roundTrip() }
    }

    func testTruncatedAndTrailingBytesAreRefused() {
        for (code, payload) in Self.examples.flatMap(\.encoded) {
            for cut in stride(from: 0, to: payload.count, by: max(1, payload.count / 7)) {
                XCTAssertThrowsError(try Operations.decode(code: code, payload: Array(payload.prefix(cut))))
            }
            XCTAssertThrowsError(try Operations.decode(code: code, payload: payload + [0]))
        }
        XCTAssertThrowsError(try Operations.decode(code: 999, payload: []))
        XCTAssertThrowsError(try Operations.decodeResult([], of: SendMessage.self))
        XCTAssertThrowsError(try Operations.decodeResult([200], of: SendMessage.self))
    }

    func testRandomBytesNeverTrap() {
        let random = SeededRandom(seed: 7)
        let valid = Self.examples.flatMap(\.encoded)
        for i in 0..<20_000 {
            let bytes = random.bytes(Int(random.next() % 64))
            _ = try? Operations.decode(code: UInt16(random.next() % 100), payload: bytes)
            _ = try? Operations.decodeResult(bytes, of: History.self)
            _ = try? Operations.decodeResult(bytes, of: Summaries.self)
            // Mutations of valid encodings reach deeper into the decoders.
            var (code, payload) = valid[i % valid.count]
            if !payload.isEmpty { payload[Int(random.next() % UInt64(payload.count))] = UInt8(truncatingIfNeeded: random.next()) }
            _ = try? Operations.decode(code: code, payload: payload)
        }
    }
}
