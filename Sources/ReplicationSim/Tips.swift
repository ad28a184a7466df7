import Chat
import Hashing
import Store

/// Tips under the faults: a fan's wallet is credited, then the fan tips a creator again and
/// again (each tip retried with its client id until answered), more than the balance covers,
/// so some tips are declined. The end state must hold: each tip charged at most once and
/// exactly as answered, the fan's balance the credit less the charged tips, the creator's
/// received total the charged tips, and each charged tip stored once in their direct chat
/// (the charge's outbox job), no declined one.
enum TipScript {
    static func fan(_ t: Int) -> String { "t\(t)fan" }
    static func star(_ t: Int) -> String { "t\(t)star" }
    static let creditCents: Int64 = 1_000

    static func plan(tipper t: Int, count: Int, rng: inout SplitMix64) -> [ScriptStep] {
        var steps: [ScriptStep] = [.credit(user: fan(t), entryID: "credit:t\(t)", cents: creditCents)]
        for i in 0..<count {
            steps.append(.tip(from: fan(t), to: star(t), clientID: "tip\(i)", cents: 50 + Int64(rng.below(100))))
        }
        return steps
    }
}

extension ReplicationSimulation {
    /// The fan and the creator sign up (a repeat finds them made), then the operator's credit.
    func performCredit(user: String, entryID: String, cents: Int64, on p: NodeProcess,
                       answer: @escaping (Result<StepOutcome, ChatError>) -> Void) {
        let star = user.replacingOccurrences(of: "fan", with: "star")
        let signups = [user, star].map { name in
            CreateUser(user: name, passwordHash: "$sim$", displayName: name,
                       session: NewSession(user: name, device: "sim", tokenHash: Array(name.utf8), expiresAt: .max))
        }
        p.router.callAll(signups) { [weak p] results in
            guard let p else { return }
            for case .failure(let error) in results where error.code != .conflict { return answer(.failure(error)) }
            p.router.call(CreditWallet(user: user, entryID: entryID, amountCents: cents)) { answer($0.map { _ in .done }) }
        }
    }

    /// As the front does (`ChatService.sendTip` with the ledger): the direct chat opened, the
    /// charge (which records the send as an outbox job and waits for it), then the ack.
    func performTip(from: String, to: String, clientID: String, cents: Int64, on p: NodeProcess,
                    answer: @escaping (Result<StepOutcome, ChatError>) -> Void) {
        let conversation = Identifiers.directConversation(from, to)
        let message = NewMessage(conversationID: conversation, sender: from, clientID: clientID, kind: .tip, body: clientID,
                                 attachments: [], tip: Tip(amountCents: cents, currency: "USD"), origin: nil)
        p.router.call(OpenDirect(conversationID: conversation)) { [weak p] opened in
            guard let p else { return }
            if case .failure(let error) = opened { return answer(.failure(error)) }
            p.router.call(ChargeTip(message: message, recipient: to, payer: .ledger)) { [weak p] charged in
                guard let p else { return }
                switch charged {
                case .failure(let error): answer(.failure(error))
                case .success(.declined): answer(.success(.declined))
                case .success(.unknown): answer(.failure(.unavailable("charge unknown")))
                case .success(.charged):
                    p.router.call(SendMessage(message)) { answer($0.map { _ in .charged }) }
                }
            }
        }
    }

    func checkTips() {
        for client in scripts {
            guard case .credit(let fan, _, let credit)? = client.steps.first, client.step > 0 else { continue }
            var charged: [String: Int64] = [:], declined: Set<String> = [], star = ""
            for (step, outcome) in zip(client.steps.prefix(client.step), client.outcomes) {
                guard case .tip(_, let to, let clientID, let cents) = step else { continue }
                star = to
                if outcome == .charged { charged[clientID] = cents } else { declined.insert(clientID) }
            }
            guard let fanStore = finalStore(.user(fan), for: fan) else { continue }
            let spent = charged.values.reduce(0, +)
            let balance = (try? fanStore.db.queryOne("SELECT balance_cents FROM wallets WHERE user=?", .text(fan)))??.int(0) ?? 0
            if balance != credit - spent {
                violate(.scriptStateWrong, "\(fan): balance \(balance), credited \(credit) less \(spent) charged in \(charged.count) tips")
            }
            let rows = (try? fanStore.db.query("SELECT client_id, status FROM charges WHERE user=?", .text(fan))) ?? []
            let recordedCharged = Set(rows.filter { $0.text(1) == ChargeOutcome.charged.rawValue }.compactMap { $0.text(0) })
            if recordedCharged != Set(charged.keys) {
                violate(.scriptStateWrong, "\(fan): charges recorded \(recordedCharged.sorted()), answered charged \(charged.keys.sorted())")
            }
            guard !star.isEmpty else { continue }
            if let starStore = finalStore(.user(star), for: star) {
                let received = (try? starStore.db.queryOne("SELECT received_cents FROM wallets WHERE user=?", .text(star)))??.int(0) ?? 0
                if received != spent { violate(.scriptStateWrong, "\(star): received \(received), the charged tips make \(spent)") }
            }
            let conversation = Identifiers.directConversation(fan, star)
            guard let chat = finalStore(.conversation(conversation), for: conversation) else { continue }
            let stored = ((try? chat.db.query("SELECT client_id FROM messages WHERE conversation_id=? AND kind='tip'",
                                              .text(conversation))) ?? []).compactMap { $0.text(0) }
            if stored.sorted() != charged.keys.sorted() {
                violate(.scriptStateWrong, "\(conversation): tips stored \(stored.sorted()), charged \(charged.keys.sorted())")
            }
        }
    }
}
