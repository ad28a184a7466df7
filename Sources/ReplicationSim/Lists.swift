import Chat
import Store

/// Mass messages under the faults: an owner signs up with a list's members, makes the list,
/// then posts messages to it (each retried with its client id until answered). Once the
/// outboxes are empty, every member must hold each answered message exactly once in their
/// direct chat with the owner: the expansion job, resumed by whichever node leads the owner's
/// shard, sends nothing twice and skips no one.
enum ListScript {
    static func owner(_ l: Int) -> String { "l\(l)owner" }
    static func members(_ l: Int, count: Int) -> [String] { (0..<count).map { "l\(l)m\($0)" } }

    static func plan(list l: Int, members count: Int, messages: Int) -> [ScriptStep] {
        [.listCreate(owner: owner(l), members: members(l, count: count))]
            + (0..<messages).map { .listMessage(owner: owner(l), clientID: "mm\($0)") }
    }
}

extension ReplicationSimulation {
    /// The users sign up (a repeat finds them made), then the list is made. Not idempotent (as
    /// `POST /v1/lists`): a retry after a lost answer makes another list, which stays unused.
    func performListCreate(owner: String, members: [String], on p: NodeProcess,
                           answer: @escaping (Result<StepOutcome, ChatError>) -> Void) {
        let signups = ([owner] + members).map { name in
            CreateUser(user: name, passwordHash: "$sim$", displayName: name,
                       session: NewSession(user: name, device: "sim", tokenHash: Array(name.utf8), expiresAt: .max))
        }
        p.router.callAll(signups) { [weak p] results in
            guard let p else { return }
            for case .failure(let error) in results where error.code != .conflict { return answer(.failure(error)) }
            p.router.call(CreateList(owner: owner, name: "fans", members: members)) { answer($0.map { .listed($0) }) }
        }
    }

    func performListMessage(_ c: Int, owner: String, clientID: String, on p: NodeProcess,
                            answer: @escaping (Result<StepOutcome, ChatError>) -> Void) {
        guard let listID = scripts[c].listID else { return answer(.failure(ChatError(.badRequest, "no list made"))) }
        p.router.call(CreateListMessage(owner: owner, listID: listID, clientID: clientID, kind: .text, body: clientID)) {
            answer($0.map { .posted(recipients: $0) })
        }
    }

    func checkLists() {
        for client in scripts {
            guard case .listCreate(let owner, let members)? = client.steps.first, let listID = client.listID else { continue }
            for (step, outcome) in zip(client.steps.prefix(client.step), client.outcomes) {
                guard case .listMessage(_, let clientID) = step else { continue }
                if outcome != .posted(recipients: Int64(members.count)) {
                    violate(.scriptStateWrong, "\(listID) \(clientID): answered \(outcome), the list has \(members.count) members")
                }
                let recipientClientID = ListMessageCommand.recipientClientID(listID: listID, clientID: clientID)
                for member in members {
                    let conversation = Identifiers.directConversation(owner, member)
                    guard let store = finalStore(.conversation(conversation), for: conversation) else { continue }
                    let copies = (try? store.db.queryOne(
                        "SELECT count(*) FROM messages WHERE conversation_id=? AND sender=? AND client_id=?",
                        .text(conversation), .text(owner), .text(recipientClientID)))??.int(0) ?? 0
                    if copies != 1 {
                        violate(.scriptStateWrong, "\(listID) \(clientID): \(member) holds \(copies) copies in \(conversation)")
                    }
                }
            }
        }
    }
}
