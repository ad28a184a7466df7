import Store

// The front's side of wallets and tips (the rules are in Features/Wallet.swift): a send with a
// tip opens its direct chat, has the billing charge it (which stores the message through the
// charge's job), then answers the message's ack; the wallet; operator credits and revocation.
extension ChatService {
    /// A `send` with `tip` (PROTOCOL.md "Tips"): direct chats only.
    func sendTip(_ session: Session, _ command: SendCommand, origin: ConnectionRef?, reply: @escaping (Result<Ack, ChatError>) -> Void) {
        guard let tip = command.tip else { return reply(.failure(.badRequest("no tip"))) }
        do { try TipRules.check(tip) } catch { return reply(.failure(error)) }
        let conversationID: String, recipient: String
        switch command.target {
        case .user(let to):
            conversationID = Identifiers.directConversation(session.user, to)
            recipient = to
        case .conversation(let id):
            guard let (a, b) = Identifiers.directMembers(id) else {
                return reply(.failure(.badRequest("tips go only in direct chats (`to` a user)")))
            }
            guard a == session.user || b == session.user else { return reply(.failure(ShardService.notMember(id))) }
            conversationID = id
            recipient = a == session.user ? b : a
        }
        guard recipient != session.user else { return reply(.failure(.badRequest("a tip goes to another user"))) }
        let message = NewMessage(conversationID: conversationID, sender: session.user, clientID: command.clientID, kind: .tip,
                                 body: command.body, attachments: command.attachments, tip: tip, origin: origin)
        let charge = { [self] in
            billing.charge(TipCharge(message: message, recipient: recipient), router: router) { [self] charged in
                switch charged {
                case .failure(let error): reply(.failure(error))
                case .success(.declined):
                    reply(.failure(ChatError(.paymentFailed, "the billing service declined the tip of \(tip.amountCents) cents",
                                             billingURL: billingURL)))
                case .success(.unknown):
                    reply(.failure(.unavailable("the charge of the tip is not known yet; retry")))
                case .success(.charged):
                    // The charge's job stored the message: this answers its first ack.
                    router.call(SendMessage(message), reply: reply)
                }
            }
        }
        // As `send`: a chat this node knows open needs no check (and no call to its shard).
        if openDirects.contains(conversationID) { return charge() }
        openDirect(conversationID, for: session.user) { [self] opened in
            if case .failure(let error) = opened { return reply(.failure(error)) }
            rememberOpen(conversationID)
            charge()
        }
    }

    /// `GET /v1/wallet`: the session's wallet; `balance` is nil when an outside billing
    /// service keeps the balances (docs/PROTOCOL-NOTES.md "Tips and wallets").
    public func wallet(_ session: Session, reply: @escaping (Result<(wallet: Wallet, balanceKept: Bool), ChatError>) -> Void) {
        let kept = billing.keepsBalances
        router.call(WalletOf(user: session.user)) { result in reply(result.map { ($0, kept) }) }
    }

    /// An operator's credit (`relaynode admin credit`): once per `entryID`. Answers the wallet.
    public func credit(user: String, amountCents: Int64, entryID: String, reply: @escaping (Result<Wallet, ChatError>) -> Void) {
        guard Identifiers.isValidUser(user) else { return reply(.failure(.badRequest("`user` is not a valid user id"))) }
        guard amountCents > 0, amountCents <= TipRules.maxCreditCents else {
            return reply(.failure(.badRequest("`amount_cents` must be an integer from 1 to \(TipRules.maxCreditCents)")))
        }
        router.call(CreditWallet(user: user, entryID: entryID, amountCents: amountCents), reply: reply)
    }

    /// An operator's revocation of every session of `user`; answers the revoked tokens'
    /// hashes (the caller closes their live connections on every node).
    public func revokeSessions(user: String, reply: @escaping (Result<[[UInt8]], ChatError>) -> Void) {
        guard Identifiers.isValidUser(user) else { return reply(.failure(.badRequest("not a valid user id"))) }
        router.call(RevokeSessions(user: user), reply: reply)
    }
}
