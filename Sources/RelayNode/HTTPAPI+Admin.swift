import Chat
import Foundation
import HTTPWire
import JSON

/// Operator commands (`relaynode admin`, AdminCommand.swift): the cluster's secret as a bearer
/// token is the credential (`isOperator`), any node serves them.
extension HTTPAPI {
    /// `POST /v1/admin/credit` `{user, amount_cents, idempotency_key?}`: adds to the user's
    /// balance; answers the wallet. With `idempotency_key` a repeat credits once.
    func adminCredit(_ call: Call) {
        guard isOperator(call.request) else { return call.respond(Reply.error(.unauthorized)) }
        let respond = call.respond
        body(call) { [self] o throws(ChatError) in
            let user = try Fields.string(o, "user", maxBytes: 64)
            guard let amount = o["amount_cents"]?.intValue else { throw .badRequest("`amount_cents` (an integer) is required") }
            let key = try Fields.optionalString(o, "idempotency_key", maxBytes: 128)
            // Without a key every call is its own credit.
            let entryID = "credit:" + (key ?? "once-" + UUID().uuidString)
            chat.credit(user: user, amountCents: amount, entryID: entryID) { result in
                switch result {
                case .success(let wallet):
                    respond(Reply.json(200, ["user": .string(user), "balance_cents": .int(wallet.balanceCents),
                                             "received_cents": .int(wallet.receivedCents), "currency": .string(wallet.currency)]))
                case .failure(let error): respond(Reply.error(error))
                }
            }
        }
    }

    /// `POST /v1/admin/users/{user}/revoke-sessions`: every token of the user stops working and
    /// their WebSockets close, on every node. Answers how many sessions there were.
    func adminRevokeSessions(_ call: Call) {
        guard isOperator(call.request) else { return call.respond(Reply.error(.unauthorized)) }
        let respond = call.respond
        let user: String
        do { user = try call.parameter("user") } catch { return respond(Reply.error(error)) }
        chat.revokeSessions(user: user) { [self] result in
            switch result {
            case .success(let hashes):
                for hash in hashes { node.cluster.directory.loggedOut(user: user, tokenHash: hash) }
                respond(Reply.json(200, ["user": .string(user), "revoked": .int(Int64(hashes.count))]))
            case .failure(let error): respond(Reply.error(error))
            }
        }
    }
}
