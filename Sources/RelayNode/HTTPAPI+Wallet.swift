import Chat
import HTTPWire
import JSON

/// Wallets: `GET /v1/wallet` (tips themselves go through `POST /v1/messages`).
extension HTTPAPI {
    /// `GET /v1/wallet`: `{balance_cents, received_cents, currency}`; `balance_cents` is null
    /// when an outside billing service keeps the balances (docs/PROTOCOL-NOTES.md).
    func wallet(_ call: Call) {
        let respond = call.respond
        authenticated(call) { [self] session in
            chat.wallet(session) { [self] result in
                switch result {
                case .success(let (wallet, kept)):
                    var o: JSONObject = ["balance_cents": kept ? .int(wallet.balanceCents) : .null,
                                         "received_cents": .int(wallet.receivedCents), "currency": .string(wallet.currency)]
                    if !kept { o["billing_url"] = .string(chat.billingURL) }
                    respond(Reply.json(200, .object(o)))
                case .failure(let error): respond(Reply.error(error))
                }
            }
        }
    }
}
