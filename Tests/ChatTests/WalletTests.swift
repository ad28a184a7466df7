import XCTest
@testable import Chat
import JSON
import Store

/// Tips and wallets (PROTOCOL.md "Tips"): the ledger's charge once per (sender, client_id),
/// declines that change nothing, the recipient's credit once, the send job surviving a
/// failed step, operator credits and revocation.
final class WalletTests: XCTestCase {
    func tip(_ h: ChatHarness, _ session: Session, to user: String, cents: Int64, clientID: String,
             currency: String = "USD") -> Result<Ack, ChatError> {
        let command = try! SendCommand(["client_id": .string(clientID), "to": .string(user), "kind": "tip", "body": "thanks",
                                        "tip": ["amount_cents": .int(cents), "currency": .string(currency)]])
        return h.wait { h.chat.send(session, command, origin: nil, reply: $0) }
    }

    func wallet(_ h: ChatHarness, _ session: Session) throws -> Wallet {
        try h.wait { h.chat.wallet(session, reply: $0) }.get().wallet
    }

    func credit(_ h: ChatHarness, _ user: String, _ cents: Int64, key: String) -> Result<Wallet, ChatError> {
        h.wait { h.chat.credit(user: user, amountCents: cents, entryID: "credit:" + key, reply: $0) }
    }

    func messages(_ h: ChatHarness, _ session: Session, _ conversation: String) throws -> [StoredMessage] {
        try h.wait { h.chat.history(session, conversationID: conversation, query: HistoryQuery(limit: 100), reply: $0) }.get().messages
    }

    func testATipIsChargedOnceAndCreditsTheRecipientOnce() throws {
        let h = try ChatHarness()
        let alice = try h.signup("alice"), bob = try h.signup("bob")
        XCTAssertEqual(try credit(h, "alice", 1_000, key: "k1").get().balanceCents, 1_000)

        let ack = try tip(h, alice, to: "bob", cents: 300, clientID: "t1").get()
        XCTAssertEqual(ack.seq, 1)
        XCTAssertEqual(try wallet(h, alice), Wallet(balanceCents: 700, receivedCents: 0, currency: "USD"))
        XCTAssertEqual(try wallet(h, bob).receivedCents, 300)

        let retried = try tip(h, alice, to: "bob", cents: 300, clientID: "t1").get()
        XCTAssertEqual(retried, ack, "a retried client_id gets the first ack")
        XCTAssertEqual(try wallet(h, alice).balanceCents, 700, "and is not charged again")
        XCTAssertEqual(try wallet(h, bob).receivedCents, 300, "nor credited again")

        XCTAssertEqual(tip(h, alice, to: "bob", cents: 301, clientID: "t1").failureCode, .conflict,
                       "the same client_id for another amount is refused")
        _ = try h.signup("carol")
        XCTAssertEqual(tip(h, alice, to: "carol", cents: 300, clientID: "t1").failureCode, .conflict,
                       "and for another recipient (no unpaid tip message in that chat)")
        XCTAssertEqual(try wallet(h, alice).balanceCents, 700)

        let stored = try messages(h, bob, "dm:alice:bob")
        XCTAssertEqual(stored.count, 1)
        XCTAssertEqual(stored.first?.kind, "tip")
        XCTAssertEqual(try messages(h, alice, "dm:alice:carol"), [])
        XCTAssertEqual(stored.first?.tip, Tip(amountCents: 300, currency: "USD"))
        XCTAssertTrue(h.sink.events(for: "bob").contains { $0.objectValue?["kind"]?.stringValue == "tip" }, "bob is pushed the tip")
    }

    func testADeclinedTipStoresNothingAndLeavesTheBalance() throws {
        let h = try ChatHarness()
        let alice = try h.signup("alice"), bob = try h.signup("bob")
        _ = try credit(h, "alice", 100, key: "k1").get()

        let declined = tip(h, alice, to: "bob", cents: 300, clientID: "t1")
        XCTAssertEqual(declined.failureCode, .paymentFailed)
        if case .failure(let error) = declined { XCTAssertEqual(error.billingURL, h.chat.billingURL) }
        XCTAssertEqual(try wallet(h, alice).balanceCents, 100)
        XCTAssertEqual(try wallet(h, bob).receivedCents, 0)
        XCTAssertEqual(try messages(h, alice, "dm:alice:bob"), [])

        // The decline is the client_id's recorded outcome: a top-up needs a new client_id.
        _ = try credit(h, "alice", 1_000, key: "k2").get()
        XCTAssertEqual(tip(h, alice, to: "bob", cents: 300, clientID: "t1").failureCode, .paymentFailed)
        XCTAssertEqual(try tip(h, alice, to: "bob", cents: 300, clientID: "t2").get().seq, 1)
        XCTAssertEqual(try wallet(h, alice).balanceCents, 800)
    }

    func testATipWithoutAnyWalletIsDeclined() throws {
        let h = try ChatHarness()
        let alice = try h.signup("alice")
        _ = try h.signup("bob")
        XCTAssertEqual(tip(h, alice, to: "bob", cents: 1, clientID: "t1").failureCode, .paymentFailed)
        XCTAssertEqual(try wallet(h, alice), .empty)
    }

    func testBadTipsAreRefusedBeforeAnyCharge() throws {
        let h = try ChatHarness()
        let alice = try h.signup("alice")
        _ = try h.signup("bob")
        _ = try credit(h, "alice", 10_000_000, key: "k").get()
        for bad: JSON in [["amount_cents": 0], ["amount_cents": -5], ["amount_cents": 1_000_001], ["amount_cents": 1.5],
                          ["amount_cents": "100"], ["amount_cents": 100, "currency": "EUR"], ["amount_cents": 100, "currency": 5], "100"] {
            XCTAssertThrowsError(try SendCommand(["client_id": "c", "to": "bob", "kind": "tip", "body": "", "tip": bad]), "\(bad)") { error in
                XCTAssertEqual((error as? ChatError)?.code, .badRequest)
            }
        }
        let inGroup = try SendCommand(["client_id": "g", "conversation_id": "grp:abc", "kind": "text", "body": "",
                                       "tip": ["amount_cents": 100, "currency": "USD"]])
        XCTAssertEqual(h.wait { h.chat.send(alice, inGroup, origin: nil, reply: $0) }.failureCode, .badRequest)
        XCTAssertEqual(tip(h, alice, to: "alice", cents: 100, clientID: "self").failureCode, .badRequest)
        XCTAssertEqual(try wallet(h, alice).balanceCents, 10_000_000, "nothing was charged")
    }

    /// The charge records the send's job with it: if the send fails after the charge, the
    /// job finishes it later and a retry is neither charged again nor sent twice.
    func testASendThatFailedAfterTheChargeIsFinishedByTheJob() throws {
        var flaky: FlakyRouter!
        let h = try ChatHarness { inner in flaky = FlakyRouter(inner); return flaky }
        let alice = try h.signup("alice"), bob = try h.signup("bob")
        _ = try credit(h, "alice", 1_000, key: "k").get()
        _ = try h.send(alice, to: "bob", "hi", clientID: "c0").get()
        let message = NewMessage(conversationID: "dm:alice:bob", sender: "alice", clientID: "t1", kind: .tip, body: "thanks",
                                 attachments: [], tip: Tip(amountCents: 300, currency: "USD"), origin: nil)
        flaky.fail(SendMessage(message), times: 2)   // the first run, and the retry its waiter asks for

        XCTAssertEqual(tip(h, alice, to: "bob", cents: 300, clientID: "t1").failureCode, .unavailable)
        XCTAssertEqual(try wallet(h, alice).balanceCents, 700, "charged once")
        XCTAssertEqual(try wallet(h, bob).receivedCents, 0, "not yet credited")
        h.fireTimers()   // the job's retry
        XCTAssertEqual(try wallet(h, bob).receivedCents, 300)
        let ack = try tip(h, alice, to: "bob", cents: 300, clientID: "t1").get()
        XCTAssertEqual(ack.seq, 2)
        XCTAssertEqual(try wallet(h, alice).balanceCents, 700)
        XCTAssertEqual(try wallet(h, bob).receivedCents, 300)
        XCTAssertEqual(try messages(h, bob, "dm:alice:bob").map(\.kind), ["text", "tip"])
    }

    /// After a failover the new primary of the sender's shard resumes the charged tip's job
    /// from the replicated outbox: the message is stored and the recipient credited once.
    func testANewPrimaryFinishesAChargedTip() throws {
        var flaky: FlakyRouter!
        let h = try ChatHarness { inner in flaky = FlakyRouter(inner); return flaky }
        let alice = try h.signup("alice"), bob = try h.signup("bob")
        _ = try credit(h, "alice", 1_000, key: "k").get()
        _ = try h.send(alice, to: "bob", "hi", clientID: "c0").get()
        let message = NewMessage(conversationID: "dm:alice:bob", sender: "alice", clientID: "t1", kind: .tip, body: "thanks",
                                 attachments: [], tip: Tip(amountCents: 300, currency: "USD"), origin: nil)
        flaky.fail(SendMessage(message), times: 2)
        XCTAssertEqual(tip(h, alice, to: "bob", cents: 300, clientID: "t1").failureCode, .unavailable)
        // The old primary goes with its retry timer; a new service over the same (replicated)
        // shard files starts leading the sender's shard.
        h.timers.value = []
        let shard = h.service.shardMap.shard(for: .user("alice"))
        h.service.abandon(shard: shard)
        let successor = ShardService(nodeID: "n2", files: h.files, shardMap: h.service.shardMap, random: SeededRandom(seed: 9),
                                     clock: { 1_763_700_000_000 }, schedule: { _, _ in })
        successor.attach(router: LocalRouter(service: successor))
        successor.startedLeading(shard: shard)
        successor.commitAll()
        XCTAssertEqual(try messages(h, bob, "dm:alice:bob").map(\.clientID), ["c0", "t1"])
        XCTAssertEqual(try wallet(h, bob).receivedCents, 300)
        XCTAssertEqual(try wallet(h, alice).balanceCents, 700)
        XCTAssertEqual(try h.files.store(shard).jobIDs(), [], "the job is done")
    }

    /// A charge that breaks the tip rules (a peer's bug, a hostile frame) moves nothing.
    func testAChargeOutsideTheRulesIsRefusedByTheShard() throws {
        let h = try ChatHarness()
        let alice = try h.signup("alice"), bob = try h.signup("bob")
        _ = try credit(h, "alice", 1_000, key: "k").get()
        func charge(_ cents: Int64, to recipient: String, in conversation: String) -> Result<ChargeOutcome, ChatError> {
            let message = NewMessage(conversationID: conversation, sender: "alice", clientID: "x\(cents)\(recipient)", kind: .tip,
                                     body: "", attachments: [], tip: Tip(amountCents: cents, currency: "USD"), origin: nil)
            return h.wait { h.chat.router.call(ChargeTip(message: message, recipient: recipient, payer: .ledger), reply: $0) }
        }
        XCTAssertEqual(charge(-500, to: "bob", in: "dm:alice:bob").failureCode, .badRequest)
        XCTAssertEqual(charge(100, to: "alice", in: "dm:alice:alice").failureCode, .badRequest)
        XCTAssertEqual(charge(100, to: "bob", in: "dm:alice:carol").failureCode, .badRequest)
        XCTAssertEqual(try wallet(h, alice).balanceCents, 1_000)
        XCTAssertEqual(try wallet(h, bob).receivedCents, 0)
    }

    /// With an outside billing service the ledger's balance is not touched: the charge is
    /// recorded as paid, and the job still sends and credits once.
    func testAPaidChargeRecordsWithoutTouchingTheBalance() throws {
        final class PaidBilling: Billing {
            var charges = 0
            var keepsBalances: Bool { false }
            func charge(_ charge: TipCharge, router: ShardRouter, done: @escaping (Result<ChargeOutcome, ChatError>) -> Void) {
                charges += 1
                router.call(ChargeTip(message: charge.message, recipient: charge.recipient, payer: .paid), reply: done)
            }
        }
        let h = try ChatHarness()
        let billing = PaidBilling()
        h.chat.billing = billing
        let alice = try h.signup("alice"), bob = try h.signup("bob")
        let message = NewMessage(conversationID: "dm:alice:bob", sender: "alice", clientID: "t1", kind: .tip, body: "thanks",
                                 attachments: [], tip: Tip(amountCents: 300, currency: "USD"), origin: nil)
        let lookup = ChargeTip(message: message, recipient: "bob", payer: .lookup)
        XCTAssertEqual(try h.wait { h.chat.router.call(lookup, reply: $0) }.get(), .unknown, "nothing recorded yet")
        let ack = try tip(h, alice, to: "bob", cents: 300, clientID: "t1").get()
        XCTAssertEqual(try h.wait { h.chat.router.call(lookup, reply: $0) }.get(), .charged)
        XCTAssertEqual(try tip(h, alice, to: "bob", cents: 300, clientID: "t1").get(), ack)
        XCTAssertEqual(try wallet(h, alice).balanceCents, 0)
        XCTAssertEqual(try wallet(h, bob).receivedCents, 300)
        XCTAssertEqual(try h.wait { h.chat.wallet(alice, reply: $0) }.get().balanceKept, false)
    }

    /// A job step that runs twice (a primary died after the call, before saving its progress)
    /// credits the recipient once: the credit is keyed by the tip.
    func testTheRecipientsCreditAppliesOncePerTip() throws {
        let h = try ChatHarness()
        let bob = try h.signup("bob")
        let credit = CreditReceived(user: "bob", entryID: "tip:alice:t1", amountCents: 300, currency: "USD")
        _ = try h.wait { h.chat.router.call(credit, reply: $0) }.get()
        _ = try h.wait { h.chat.router.call(credit, reply: $0) }.get()
        XCTAssertEqual(try wallet(h, bob).receivedCents, 300)
        _ = try h.wait { h.chat.router.call(CreditReceived(user: "bob", entryID: "tip:alice:t2", amountCents: 5, currency: "USD"), reply: $0) }.get()
        XCTAssertEqual(try wallet(h, bob), Wallet(balanceCents: 0, receivedCents: 305, currency: "USD"))
    }

    func testACreditAppliesOncePerKeyAndNeedsAUser() throws {
        let h = try ChatHarness()
        let alice = try h.signup("alice")
        XCTAssertEqual(try credit(h, "alice", 500, key: "k1").get().balanceCents, 500)
        XCTAssertEqual(try credit(h, "alice", 500, key: "k1").get().balanceCents, 500, "the same key credits once")
        XCTAssertEqual(try credit(h, "alice", 200, key: "k2").get().balanceCents, 700)
        XCTAssertEqual(credit(h, "nobody", 500, key: "k3").failureCode, .notFound)
        XCTAssertEqual(credit(h, "alice", 0, key: "k4").failureCode, .badRequest)
        XCTAssertEqual(credit(h, "alice", -1, key: "k5").failureCode, .badRequest)
        XCTAssertEqual(try wallet(h, alice).balanceCents, 700)
    }

    func testRevokingSessionsEndsEveryToken() throws {
        let h = try ChatHarness()
        let alice = try h.signup("alice")
        let second = try h.wait { h.chat.login(user: "alice", password: "password-alice", device: "laptop", source: "192.0.2.1", reply: $0) }.get()
        let revoked = try h.wait { h.chat.revokeSessions(user: "alice", reply: $0) }.get()
        XCTAssertEqual(revoked.count, 2)
        XCTAssertTrue(revoked.contains(alice.tokenHash))
        XCTAssertEqual(h.wait { h.chat.authenticate(token: second.token, reply: $0) }.failureCode, .unauthorized)
        XCTAssertEqual(h.wait { h.chat.revokeSessions(user: "nobody", reply: $0) }.failureCode, .notFound)
    }
}
