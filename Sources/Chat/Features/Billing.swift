import Store

// Who charges a tip (PROTOCOL.md "Tips"): the cluster's embedded ledger (balances on each
// user's shard) or an outside billing service (the node's HTTP adapter, RelayNode's
// HTTPBilling). Either way the charge ends in `ChargeTip` on the sender's shard, which records
// the outcome under (sender, client_id) with the job that sends the message and credits the
// recipient, so a charged tip is sent exactly once and a retried client_id is never charged
// twice. The cluster config picks one (docs/OPERATIONS.md "Billing").

/// A tip to charge: its message (kind `tip`, its `tip` set) and who receives it.
public struct TipCharge: Sendable, Equatable {
    public var message: NewMessage
    public var recipient: String
    public init(message: NewMessage, recipient: String) {
        self.message = message
        self.recipient = recipient
    }
    public var tip: Tip { message.tip ?? Tip(amountCents: 0, currency: "") }
    /// The key an outside service charges once: `SENDER:CLIENT_ID`.
    public var idempotencyKey: String { message.sender + ":" + message.clientID }
}

public protocol Billing: AnyObject {
    /// Whether users spend the ledger's balances (`GET /v1/wallet` shows them); false when an
    /// outside service keeps them.
    var keepsBalances: Bool { get }
    /// Charges the tip at most once per (sender, client_id). `.charged` comes only once the
    /// charge is recorded and the tip's message stored; `.declined` stores nothing; a failure
    /// (`unavailable`) means the client retries with the same client_id.
    func charge(_ charge: TipCharge, router: ShardRouter, done: @escaping (Result<ChargeOutcome, ChatError>) -> Void)
}

/// The embedded ledger: the charge is one shard operation on the sender's shard.
public final class LedgerBilling: Billing {
    public init() {}
    public var keepsBalances: Bool { true }
    public func charge(_ charge: TipCharge, router: ShardRouter, done: @escaping (Result<ChargeOutcome, ChatError>) -> Void) {
        router.call(ChargeTip(message: charge.message, recipient: charge.recipient, payer: .ledger), reply: done)
    }
}
