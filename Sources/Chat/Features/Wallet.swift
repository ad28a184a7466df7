import Store
import Wire

// Wallets and tips, on users' shards (PROTOCOL.md "Tips", `GET /v1/wallet`): each user's
// balance and what they received, the charge of a tip (once per sender and client_id), the
// job that sends the tip's message and credits its recipient exactly once, operator credits
// and the revocation of every session. The front's side is ChatService+Wallet.swift; the
// choice of who charges (the ledger here or an outside service) is Billing.swift.

/// The rules a tip must meet before anything is charged.
public enum TipRules {
    /// The largest tip: $10,000 in cents. Bounds what one mistaken or hostile request can
    /// move, and keeps every sum of tips far from Int64's range.
    public static let maxAmountCents: Int64 = 1_000_000
    /// Currencies the cluster takes (ISO 4217). One today: balances hold one currency.
    public static let currencies: [String] = ["USD"]
    /// The largest operator credit in one call: $10,000,000 in cents.
    public static let maxCreditCents: Int64 = 1_000_000_000
    /// Balances and received totals stay at most this (a sum past it is refused): far from
    /// Int64's overflow.
    public static let maxBalanceCents: Int64 = 1 << 53

    public static func check(_ tip: Tip) throws(ChatError) {
        guard tip.amountCents > 0, tip.amountCents <= maxAmountCents else {
            throw .badRequest("`tip.amount_cents` must be an integer from 1 to \(maxAmountCents)")
        }
        guard currencies.contains(tip.currency) else {
            throw .badRequest("`tip.currency` \(tip.currency) is not supported (supported: \(currencies.joined(separator: ", ")))")
        }
    }
}

/// A user's wallet: what they may spend (the ledger's balance) and what tips brought them.
public struct Wallet: Sendable, Equatable {
    public var balanceCents: Int64
    public var receivedCents: Int64
    public var currency: String
    public init(balanceCents: Int64, receivedCents: Int64, currency: String) {
        self.balanceCents = balanceCents
        self.receivedCents = receivedCents
        self.currency = currency
    }
    public static let empty = Wallet(balanceCents: 0, receivedCents: 0, currency: TipRules.currencies[0])
}

/// What became of a tip's charge.
public enum ChargeOutcome: String, Sendable, Equatable {
    case charged
    case declined
    /// No charge is recorded for the client_id (an answer to a `lookup` only).
    case unknown
}

/// A tip's charge on the sender's shard, idempotent on (sender, client_id): the first call
/// decides and records the outcome; every later one answers it. A charge records, in the same
/// transaction, the job that sends the message and credits the recipient (`SendTip`), and
/// answers once that job has run: after a successful charge the message goes out exactly
/// once, whatever node dies when.
///
/// `ledger`: the balance pays (insufficient: declined, and the decline is recorded). `paid`:
/// an outside billing service already charged it (Billing.swift); only the record and the
/// job are made here. `lookup`: only answers a recorded outcome (`unknown` when there is
/// none), so a retry of a tip already charged needs no outside service.
public struct ChargeTip: ShardOperation {
    public enum Payer: UInt8, Sendable {
        case ledger = 0
        case paid = 1
        case lookup = 2
    }
    public static let code = OperationCode.chargeTip
    /// The tip's message, as the job will send it (its `tip` set).
    public var message: NewMessage
    public var recipient: String
    public var payer: Payer
    public init(message: NewMessage, recipient: String, payer: Payer) {
        self.message = message
        self.recipient = recipient
        self.payer = payer
    }
    public var key: ShardKey { .user(message.sender) }
    var tip: Tip { message.tip ?? Tip(amountCents: 0, currency: "") }

    public func encode(_ w: inout WireWriter) {
        SendMessage(message).encode(&w)
        w.writeString(recipient); w.writeU8(payer.rawValue)
    }
    public init(from r: inout WireReader) throws {
        message = try SendMessage(from: &r).message
        recipient = try r.readText()
        guard let payer = Payer(rawValue: try r.readU8()) else { throw ShardCodecError("unknown payer") }
        self.payer = payer
    }
    public static func encode(reply: ChargeOutcome, _ w: inout WireWriter) { w.writeString(reply.rawValue) }
    public static func decodeReply(_ r: inout WireReader) throws -> ChargeOutcome {
        guard let outcome = ChargeOutcome(rawValue: try r.readText()) else { throw ShardCodecError("unknown charge outcome") }
        return outcome
    }

    public func run(in context: ShardContext) throws -> ChargeOutcome {
        let store = context.store, sender = message.sender
        // The front checked these; a rule that moves money checks them again.
        guard message.tip != nil else { throw ChatError.badRequest("a charge needs a tip") }
        try TipRules.check(tip)
        guard recipient != sender, message.conversationID == Identifiers.directConversation(sender, recipient) else {
            throw ChatError.badRequest("a tip goes to the other member of a direct chat")
        }
        let job = SendTip(message: message, recipient: recipient)
        if let recorded = try store.charge(user: sender, clientID: message.clientID) {
            // A retry: the first outcome stands. The same client_id for another tip (amount,
            // currency or recipient) is refused: its answer would be the first tip's.
            guard recorded.tip == tip, recorded.recipient == recipient else {
                throw ChatError(.conflict, "client_id \(message.clientID) was used for another tip")
            }
            // A charged tip whose job still runs is waited for.
            if recorded.outcome == .charged, try store.job(job.id) != nil { context.awaitJob(id: job.id) }
            return recorded.outcome
        }
        if payer == .lookup { return .unknown }
        if payer == .ledger {
            let wallet = try store.wallet(user: sender) ?? .empty
            guard wallet.balanceCents >= tip.amountCents, wallet.currency == tip.currency else {
                try store.recordCharge(user: sender, clientID: message.clientID, outcome: .declined, tip: tip,
                                       recipient: recipient, now: context.now)
                return .declined
            }
            try store.setWallet(user: sender, Wallet(balanceCents: wallet.balanceCents - tip.amountCents,
                                                     receivedCents: wallet.receivedCents, currency: wallet.currency))
        }
        try store.recordCharge(user: sender, clientID: message.clientID, outcome: .charged, tip: tip, recipient: recipient,
                               now: context.now)
        try context.enqueue(job, id: job.id, origin: key, replyWhenDone: true)
        return .charged
    }
}

/// The outbox job of a charged tip: the message into the direct chat (idempotent on the
/// sender's client_id), then the recipient's `received_cents` (idempotent on the entry id).
/// Progress: nil, then `sentStep` once the message is stored.
public struct SendTip: OutboxJob {
    public static let kind = JobKind.sendTip
    static let sentStep: [UInt8] = [1]
    public var message: NewMessage
    public var recipient: String
    public init(message: NewMessage, recipient: String) {
        self.message = message
        self.recipient = recipient
    }
    /// One per (sender, client_id) on the sender's shard.
    public var id: String { "tip:\(message.sender):\(message.clientID)" }

    public init(payload: [UInt8]) throws {
        var r = WireReader(payload)
        message = try SendMessage(from: &r).message
        recipient = try r.readText()
        try r.expectEnd()
    }
    public var payload: [UInt8] {
        var w = WireWriter()
        SendMessage(message).encode(&w)
        w.writeString(recipient)
        return w.bytes
    }

    public func step(progress: [UInt8]?, context: JobContext, done: @escaping (JobStep) -> Void) {
        guard let tip = message.tip else { return done(.finished) }
        if progress == nil {
            context.router.call(SendMessage(message)) { result in
                switch result {
                case .success: done(.progressed(Self.sentStep))
                case .failure(let error) where error.code == .notFound:
                    // The chat is gone (a front's cache from before a restore): made again
                    // (idempotent), then the send is retried.
                    context.router.call(OpenDirect(conversationID: message.conversationID)) { _ in done(.failed(error)) }
                case .failure(let error): done(.failed(error))
                }
            }
        } else {
            context.router.call(CreditReceived(user: recipient, entryID: id, amountCents: tip.amountCents, currency: tip.currency)) { result in
                switch result {
                case .success: done(.finished)
                case .failure(let error): done(.failed(error))
                }
            }
        }
    }
}

/// Adds a tip to its recipient's `received_cents`, once per entry id.
public struct CreditReceived: ShardOperation {
    public static let code = OperationCode.creditReceived
    public var user: String
    public var entryID: String
    public var amountCents: Int64
    public var currency: String
    public init(user: String, entryID: String, amountCents: Int64, currency: String) {
        self.user = user
        self.entryID = entryID
        self.amountCents = amountCents
        self.currency = currency
    }
    public var key: ShardKey { .user(user) }
    public func encode(_ w: inout WireWriter) { w.writeString(user); w.writeString(entryID); w.writeInt(amountCents); w.writeString(currency) }
    public init(from r: inout WireReader) throws {
        self.init(user: try r.readText(), entryID: try r.readText(), amountCents: try r.readInt(), currency: try r.readText())
    }
    public static func encode(reply: Done, _ w: inout WireWriter) {}
    public static func decodeReply(_ r: inout WireReader) throws -> Done { Done() }

    public func run(in context: ShardContext) throws -> Done {
        let store = context.store
        guard try store.walletEntry(user: user, entryID: entryID) == false else { return Done() }
        let wallet = try store.wallet(user: user) ?? .empty
        // Tips are bounded, so this sum stays in range; past the bound the total saturates
        // rather than refusing a credit whose charge is already made.
        let received = min(TipRules.maxBalanceCents, wallet.receivedCents + amountCents)
        try store.insertWalletEntry(user: user, entryID: entryID, kind: "tip_received", amountCents: amountCents, now: context.now)
        try store.setWallet(user: user, Wallet(balanceCents: wallet.balanceCents, receivedCents: received, currency: wallet.currency))
        return Done()
    }
}

/// A user's wallet (the empty wallet when there is none yet).
public struct WalletOf: ShardOperation {
    public static let code = OperationCode.walletOf
    public var user: String
    public init(user: String) { self.user = user }
    public var key: ShardKey { .user(user) }
    public func encode(_ w: inout WireWriter) { w.writeString(user) }
    public init(from r: inout WireReader) throws { user = try r.readText() }
    public static func encode(reply: Wallet, _ w: inout WireWriter) {
        w.writeInt(reply.balanceCents); w.writeInt(reply.receivedCents); w.writeString(reply.currency)
    }
    public static func decodeReply(_ r: inout WireReader) throws -> Wallet {
        Wallet(balanceCents: try r.readInt(), receivedCents: try r.readInt(), currency: try r.readText())
    }
    public func run(in context: ShardContext) throws -> Wallet { try context.store.wallet(user: user) ?? .empty }
}

/// An operator's credit to a user's balance (a top-up), once per entry id: a retry with the
/// same id answers the balance without crediting again. Answers the balance.
public struct CreditWallet: ShardOperation {
    public static let code = OperationCode.creditWallet
    public var user: String
    public var entryID: String
    public var amountCents: Int64
    public init(user: String, entryID: String, amountCents: Int64) {
        self.user = user
        self.entryID = entryID
        self.amountCents = amountCents
    }
    public var key: ShardKey { .user(user) }
    public func encode(_ w: inout WireWriter) { w.writeString(user); w.writeString(entryID); w.writeInt(amountCents) }
    public init(from r: inout WireReader) throws { self.init(user: try r.readText(), entryID: try r.readText(), amountCents: try r.readInt()) }
    public static func encode(reply: Wallet, _ w: inout WireWriter) { WalletOf.encode(reply: reply, &w) }
    public static func decodeReply(_ r: inout WireReader) throws -> Wallet { try WalletOf.decodeReply(&r) }

    public func run(in context: ShardContext) throws -> Wallet {
        let store = context.store
        guard amountCents > 0, amountCents <= TipRules.maxCreditCents else {
            throw ChatError.badRequest("`amount_cents` must be an integer from 1 to \(TipRules.maxCreditCents)")
        }
        guard try store.user(user) != nil else { throw ChatError(.notFound, "no user \(user)") }
        let wallet = try store.wallet(user: user) ?? .empty
        if try store.walletEntry(user: user, entryID: entryID) { return wallet }
        guard wallet.balanceCents + amountCents <= TipRules.maxBalanceCents else {
            throw ChatError.badRequest("the balance would pass \(TipRules.maxBalanceCents) cents")
        }
        let credited = Wallet(balanceCents: wallet.balanceCents + amountCents, receivedCents: wallet.receivedCents,
                              currency: wallet.currency)
        try store.insertWalletEntry(user: user, entryID: entryID, kind: "credit", amountCents: amountCents, now: context.now)
        try store.setWallet(user: user, credited)
        return credited
    }
}

/// Deletes every session of a user (an operator's revocation); answers the deleted tokens'
/// hashes, so the front can close their live connections on every node.
public struct RevokeSessions: ShardOperation {
    public static let code = OperationCode.revokeSessions
    public var user: String
    public init(user: String) { self.user = user }
    public var key: ShardKey { .user(user) }
    public func encode(_ w: inout WireWriter) { w.writeString(user) }
    public init(from r: inout WireReader) throws { user = try r.readText() }
    public static func encode(reply: [[UInt8]], _ w: inout WireWriter) { w.writeList(reply) { hash, w in w.writeBytes(hash) } }
    public static func decodeReply(_ r: inout WireReader) throws -> [[UInt8]] {
        try r.readList(minBytes: 4) { try $0.readBytes(maxBytes: 64) }
    }

    public func run(in context: ShardContext) throws -> [[UInt8]] {
        guard try context.store.user(user) != nil else { throw ChatError(.notFound, "no user \(user)") }
        return try context.store.deleteSessions(user: user)
    }
}
